/*
 * Reading a ticket endpoint's answer without trusting it: bounded size, strict shape. Internal: not
 * re-exported by the package.
 */
import {
  MAX_TICKET_RESPONSE_BYTES,
  MAX_TICKET_RETRY_AFTER,
  MIN_TICKET_RETRY_AFTER,
} from './client.constants.js';
import { TICKET_REQUEST_FAILED, TicketRequestFailure } from './ticket-failure.js';

/** A ticket, as the endpoint issued it. */
export interface TicketGrant {
  /** The single-use ticket: a lowercase v4 UUID. */
  uuid: string;
  /** Seconds the ticket stays valid, as the endpoint said (positive). */
  expiresIn: number;
}

/** The server's ticket shape (`TICKET_FORMAT`), repeated here: the client imports nothing. */
const TICKET_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Whether `value` has the shape of a ticket. */
export function isTicketUuid(value: unknown): value is string {
  return typeof value === 'string' && TICKET_UUID.test(value);
}

/**
 * The ticket in a 2xx answer, or a `ticket_request_failed` failure carrying the status: a body
 * over `MAX_TICKET_RESPONSE_BYTES`, not UTF-8 JSON, without a ticket-shaped `uuid` or without a
 * positive finite `expiresIn`. The body is cancelled as soon as it is known to be too large.
 */
export async function readTicket(response: Response, signal: AbortSignal): Promise<TicketGrant> {
  const notATicket = (cause?: unknown) =>
    new TicketRequestFailure(TICKET_REQUEST_FAILED, { status: response.status, cause });
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (!(declared <= MAX_TICKET_RESPONSE_BYTES)) {
    discard(response);
    throw notATicket(new RangeError(`Content-Length over ${MAX_TICKET_RESPONSE_BYTES} bytes`));
  }
  const bytes = await readCapped(response, signal);
  if (bytes === undefined) {
    throw notATicket(new RangeError(`body over ${MAX_TICKET_RESPONSE_BYTES} bytes`));
  }
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    // Not the parser's error: its message quotes the body, which may hold a ticket.
    throw notATicket(new SyntaxError('the body is not UTF-8 JSON'));
  }
  const { uuid, expiresIn } = (typeof body === 'object' && body !== null ? body : {}) as {
    uuid?: unknown;
    expiresIn?: unknown;
  };
  if (!isTicketUuid(uuid)) throw notATicket(new TypeError('uuid is not a ticket'));
  if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0) {
    throw notATicket(new TypeError('expiresIn is not a positive number of seconds'));
  }
  return { uuid, expiresIn };
}

/** The body's bytes, or undefined once it passes the cap (the rest is never downloaded). */
async function readCapped(
  response: Response,
  signal: AbortSignal,
): Promise<Uint8Array | undefined> {
  const reader = response.body?.getReader();
  if (!reader) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await untilAborted(reader.read(), signal);
      if (done) break;
      size += value.byteLength;
      if (size > MAX_TICKET_RESPONSE_BYTES) return undefined;
      chunks.push(value);
    }
  } finally {
    // Stops the download (and frees the connection) when we leave early: too large, or aborted.
    if (size > MAX_TICKET_RESPONSE_BYTES || signal.aborted) reader.cancel().catch(() => {});
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** Cancels a body nobody will read, so that the connection is not kept busy by it. */
export function discard(response: Response | undefined): void {
  response?.body?.cancel().catch(() => {});
}

/**
 * `Retry-After` in seconds (a delay, possibly fractional, or an HTTP date), clamped to
 * `MIN_TICKET_RETRY_AFTER`–`MAX_TICKET_RETRY_AFTER`; undefined when absent or unreadable.
 */
export function retryAfterOf(headers: Headers): number | undefined {
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  let seconds = /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
  if (Number.isNaN(seconds)) {
    const date = Date.parse(value);
    if (Number.isNaN(date)) return undefined;
    seconds = (date - Date.now()) / 1000;
  }
  return Math.min(MAX_TICKET_RETRY_AFTER, Math.max(MIN_TICKET_RETRY_AFTER, seconds));
}

/**
 * `promise`, or a rejection with the signal's reason as soon as it aborts: a custom `fetch`, a
 * `getToken` or a body stream that ignores the signal still cannot hold an attempt past its limit.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
