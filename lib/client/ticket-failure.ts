/**
 * Client-side code: the ticket endpoint refused the bearer token (401/403), or there is none. Fatal:
 * sign in again.
 */
export const TICKET_REQUEST_UNAUTHORIZED = 'ticket_request_unauthorized';
/**
 * Client-side code: the ticket endpoint answered another 4xx than 401, 403, 408, 425 and 429 (404
 * for a `ticketUrl` without the app's global prefix, 405 for a route that is not the ticket
 * endpoint, 400, 410, …). Fatal: the same request would get the same answer, so fix `ticketUrl`.
 */
export const TICKET_REQUEST_REJECTED = 'ticket_request_rejected';
/**
 * Client-side code: `ticketUrl` cannot be requested: it does not parse, it is relative where there
 * is no page to resolve it against (Node), or its scheme is not `http:`/`https:` (a `ws://` URL).
 * Fatal, and no request is made (`getToken` is not called). Checked when the default `fetch` is
 * used; a custom `fetch` receives relative URLs as they are.
 */
export const TICKET_URL_INVALID = 'ticket_url_invalid';
/**
 * Client-side code: no usable ticket this time (endpoint unreachable, slow, redirecting, answering
 * 5xx, 408, 425 or 429, or something that is not a ticket, or `getToken` failed). Retried.
 */
export const TICKET_REQUEST_FAILED = 'ticket_request_failed';
/**
 * Client-side code of the session refresh helpers: the server gave no usable answer to
 * `ws-ticket:refresh` within `requestTimeout` (`cause` is a `TimeoutError`), or answered something
 * that is no refresh result (`cause` is a `TypeError`). Retried.
 */
export const TICKET_REFRESH_FAILED = 'ticket_refresh_failed';

/** The codes of a {@link TicketRequestFailure}. */
export type TicketRequestFailureCode =
  | typeof TICKET_REQUEST_UNAUTHORIZED
  | typeof TICKET_REQUEST_REJECTED
  | typeof TICKET_URL_INVALID
  | typeof TICKET_REQUEST_FAILED;

/**
 * The failure codes a retry cannot fix: `attachTicketAuth` stops on them, and
 * `TicketRequestFailure.fatal` is true.
 */
export const TICKET_REQUEST_FATAL_CODES: readonly TicketRequestFailureCode[] = [
  TICKET_REQUEST_UNAUTHORIZED,
  TICKET_REQUEST_REJECTED,
  TICKET_URL_INVALID,
];

/**
 * Server codes that a new ticket cannot fix: the helpers stop on them, whether they refuse a
 * handshake or a session refresh. Each is a deliberate answer of the server, never a failure:
 * `user_rejected` means the app's `resolveUser` refused the user (it returned `undefined`, `null`
 * or `false`); `user_mismatch` means a refresh ticket was issued to another user than the
 * connection's (the server closes the connection); `connection_limit` means the user holds as many
 * connections as the server allows (retrying would spend tickets, or with `close-oldest` close the
 * user's next oldest connection, which would do the same in turn). A server that cannot answer (its store or user
 * backend down, a `resolveUser` that throws) says `store_unavailable`, which is retried.
 */
export const WS_TICKET_FATAL_CODES: readonly string[] = [
  'user_rejected',
  'origin_forbidden',
  'user_revoked',
  'ticket_binding_mismatch',
  'user_mismatch',
  'connection_limit',
];

/** A refusal, closure or failure as the helpers report it (`onRefused`). */
export interface TicketClientEvent {
  /** A server code (`ticket_invalid`, `session_expired`, …) or a client-side one. Always set. */
  code: string;
  /** True when the helper gave up: a new ticket cannot fix it. */
  fatal: boolean;
  /** HTTP status of the ticket endpoint, for client-side codes, when it answered one. */
  status?: number | undefined;
  /** For client-side codes: what failed underneath (the app's `getToken` error, a timeout…). */
  cause?: unknown;
}

/** Details of a {@link TicketRequestFailure}. */
export interface TicketRequestFailureInit {
  /** HTTP status, when the endpoint answered one the client could see. */
  status?: number | undefined;
  /** Seconds to wait before the next request, from `Retry-After` (clamped to 1–300). */
  retryAfter?: number | undefined;
  /** What went wrong underneath: the app's `getToken` error, a network error, a timeout, … */
  cause?: unknown;
}

/**
 * Why a ticket request failed. `fetchTicket` rejects with it and `ticketAuth().lastFailure` holds
 * it. Its message names the code and the status only: never a token, a ticket or a body.
 */
export class TicketRequestFailure extends Error {
  override readonly name = 'TicketRequestFailure';
  /**
   * `ticket_request_unauthorized`, `ticket_request_rejected`, `ticket_url_invalid` (fatal) or
   * `ticket_request_failed` (worth retrying).
   */
  readonly code: TicketRequestFailureCode;
  /** True when a retry cannot fix it ({@link TICKET_REQUEST_FATAL_CODES}): stop asking. */
  readonly fatal: boolean;
  /** HTTP status, when the endpoint answered one the client could see. */
  readonly status?: number | undefined;
  /**
   * Seconds to wait before the next request, from the answer's `Retry-After` (delay or HTTP date),
   * clamped to `MIN_TICKET_RETRY_AFTER`–`MAX_TICKET_RETRY_AFTER` (1–300).
   */
  readonly retryAfter?: number | undefined;

  constructor(code: TicketRequestFailureCode, init: TicketRequestFailureInit = {}) {
    super(init.status === undefined ? code : `${code} (HTTP ${init.status})`, {
      cause: init.cause,
    });
    this.code = code;
    this.fatal = TICKET_REQUEST_FATAL_CODES.includes(code);
    if (init.status !== undefined) this.status = init.status;
    if (init.retryAfter !== undefined) this.retryAfter = init.retryAfter;
    // `{ cause: undefined }` still defines the property: keep it only when there is one.
    if (init.cause === undefined) delete (this as { cause?: unknown }).cause;
  }
}

/** `error` as a {@link TicketRequestFailure} (anything else becomes `ticket_request_failed`). */
export function asTicketRequestFailure(error: unknown): TicketRequestFailure {
  return error instanceof TicketRequestFailure
    ? error
    : new TicketRequestFailure(TICKET_REQUEST_FAILED, { cause: error });
}

/** A ticket request failure as the helpers report it: code, `fatal`, and status and cause if any. */
export function failureEvent(failure: TicketRequestFailure): TicketClientEvent {
  const event: TicketClientEvent = { code: failure.code, fatal: failure.fatal };
  if (failure.status !== undefined) event.status = failure.status;
  if (failure.cause !== undefined) event.cause = failure.cause;
  return event;
}
