/** Checks a numeric option at startup: a positive finite number, or an error naming it. */
export function positive(value: number, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new Error(`WsTicketModule: \`${name}\` must be a positive number.`);
  }
  return value;
}
