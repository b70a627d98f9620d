/** Client-side code: the ticket endpoint refused the bearer token (401/403), or there is none. Fatal. */
export const TICKET_REQUEST_UNAUTHORIZED = 'ticket_request_unauthorized';
/**
 * Client-side code: no usable ticket (endpoint unreachable, slow, redirecting, answering an error or
 * something that is not a ticket, or `getToken` failed). Retried.
 */
export const TICKET_REQUEST_FAILED = 'ticket_request_failed';

/** The codes of a {@link TicketRequestFailure}. */
export type TicketRequestFailureCode =
  | typeof TICKET_REQUEST_UNAUTHORIZED
  | typeof TICKET_REQUEST_FAILED;

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
  /** `ticket_request_unauthorized` (fatal) or `ticket_request_failed` (worth retrying). */
  readonly code: TicketRequestFailureCode;
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
    if (init.status !== undefined) this.status = init.status;
    if (init.retryAfter !== undefined) this.retryAfter = init.retryAfter;
    // `{ cause: undefined }` still defines the property: keep it only when there is one.
    if (init.cause === undefined) delete (this as { cause?: unknown }).cause;
  }
}
