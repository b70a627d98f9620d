/**
 * What an option held, for a startup error: the value and its type (`"30" (a string)`), so a
 * mistake such as an environment value passed unconverted is visible in the message. With
 * `secret`, only the type: the value of a key or secret never reaches a log.
 */
export function received(value: unknown, secret = false): string {
  const kind = kindOf(value);
  if (secret || typeof value === 'function' || typeof value === 'symbol') return kind;
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'string') return `${quote(value)} (${kind})`;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
    return `${String(value)} (${kind})`;
  }
  let shown: string | undefined;
  try {
    shown = JSON.stringify(value);
  } catch {
    // A cyclic object: the type says enough.
  }
  return shown === undefined || shown.length > 60 ? kind : `${shown} (${kind})`;
}

/** "a string", "an array", "a Buffer", "an object"… */
function kindOf(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (value === '') return 'an empty string';
  if (Array.isArray(value)) return 'an array';
  if (Buffer.isBuffer(value)) return 'a Buffer';
  const type = typeof value;
  if (type === 'object') {
    const name = Object.getPrototypeOf(value)?.constructor?.name;
    return name && name !== 'Object' ? `a ${name}` : 'an object';
  }
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function quote(text: string): string {
  return JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);
}

/** The hint for a number that arrived as text, as `ConfigService.get()` returns env values. */
export function numberHint(value: unknown): string {
  return typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))
    ? ': convert environment values with Number(…)'
    : '';
}

/** The hint for a boolean that arrived as text (`'false'` is truthy). */
function booleanHint(value: unknown): string {
  return value === 'true' || value === 'false'
    ? ": environment values are strings, convert with value === 'true'"
    : '';
}

/**
 * Checks a numeric option that `0` switches off: zero or a positive finite number, or an error
 * naming it, its unit, what `0` means and what it received.
 */
export function positiveOrOff(
  value: unknown,
  name: string,
  unit: string,
  example: number,
  off: string,
): number {
  if (value === 0) return 0;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new Error(
      `WsTicketModule: \`${name}\` must be a positive number of ${unit} (e.g. ${example}), or 0 ${off}; ` +
        `received ${received(value)}${numberHint(value)}.`,
    );
  }
  return value;
}

/**
 * Checks a numeric option at startup: a positive finite number, or an error naming it, its unit and
 * what it received.
 */
export function positive(value: unknown, name: string, unit: string, example: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new Error(
      `WsTicketModule: \`${name}\` must be a positive number of ${unit} (e.g. ${example}); ` +
        `received ${received(value)}${numberHint(value)}.`,
    );
  }
  return value;
}

/** Checks a boolean option at startup: `true`, `false` or left out. */
export function flag(value: unknown, name: string): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') {
    throw new Error(
      `WsTicketModule: \`${name}\` must be true or false; received ${received(value)}${booleanHint(value)}.`,
    );
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

/** Checks an optional callback option at startup: a function or left out. */
export function callback<T>(value: T | undefined, name: string, example: string): T | undefined {
  if (value !== undefined && typeof value !== 'function') {
    throw new Error(
      `WsTicketModule: \`${name}\` must be a function, e.g. ${example}; received ${received(value)}.`,
    );
  }
  return value;
}

/** Checks an optional plain-object option at startup (`jwt`, `bind`, `issueLimit`). */
export function optionObject<T>(
  value: T | undefined,
  name: string,
  example: string,
): T | undefined {
  if (
    value !== undefined &&
    (typeof value !== 'object' || value === null || Array.isArray(value))
  ) {
    throw new Error(
      `WsTicketModule: \`${name}\` must be an object, e.g. ${example}; received ${received(value)}.`,
    );
  }
  return value;
}
