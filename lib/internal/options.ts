/** Checks a numeric option at startup: a positive finite number, or an error naming it. */
export function positive(value: number, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new Error(`WsTicketModule: \`${name}\` must be a positive number.`);
  }
  return value;
}

/**
 * Largest `maxPayload` that `ws` honours: it reads the option as a 32-bit integer, so 2 GiB or more
 * would wrap to a value that turns the limit off without a word.
 */
const WS_MAX_PAYLOAD_CEILING = 2 ** 31 - 1;

/** Checks `WsTicketWsAdapter`'s `maxPayload` at construction: whole bytes that `ws` can enforce. */
export function wsMaxPayload(value: unknown): number {
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < 1 ||
    value > WS_MAX_PAYLOAD_CEILING
  ) {
    throw new Error(
      `WsTicketWsAdapter: \`maxPayload\` must be a whole number of bytes from 1 to ` +
        `${WS_MAX_PAYLOAD_CEILING} (got ${String(value)}); pass e.g. 1_048_576 for 1 MiB, or leave ` +
        'it out for the 1 MiB default.',
    );
  }
  return value;
}
