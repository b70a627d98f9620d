/**
 * Every refusal the module can produce, as stable machine-readable codes.
 *
 * Handshake refusals reach the Socket.IO client as `connect_error` with `err.message === code`
 * and `err.data.code === code`; handler refusals are `WsException({ code, message })`.
 */
export const WsTicketErrorCode = {
  /** No ticket in the handshake (`auth[param]` nor `?param=`). */
  TICKET_MISSING: 'ticket_missing',
  /** The ticket is not a lowercase RFC 4122 version 4 UUID string. The store was not touched. */
  TICKET_MALFORMED: 'ticket_malformed',
  /** Unknown, expired or already used ticket. */
  TICKET_INVALID: 'ticket_invalid',
  /** `resolveUser` refused (or failed for) the identity behind a valid ticket. */
  USER_REJECTED: 'user_rejected',
  /** The ticket store could not be reached in time. Retrying later may succeed. */
  STORE_UNAVAILABLE: 'store_unavailable',
} as const;

/** One of the values of {@link WsTicketErrorCode}. */
export type WsTicketErrorCode = (typeof WsTicketErrorCode)[keyof typeof WsTicketErrorCode];

const MESSAGES: Record<WsTicketErrorCode, string> = {
  ticket_missing: 'No WebSocket ticket was sent.',
  ticket_malformed: 'The WebSocket ticket is not well formed.',
  ticket_invalid: 'The WebSocket ticket is unknown, expired or already used.',
  user_rejected: 'The user behind the WebSocket ticket was refused.',
  store_unavailable: 'The ticket store is unavailable; try again shortly.',
};

/** Payload attached to refusals: what a client can rely on. */
export interface WsTicketErrorData {
  code: WsTicketErrorCode;
}

/**
 * A coded refusal. Its `message` is the code itself so that Socket.IO clients, which only receive
 * `message` and `data` of a middleware error, can switch on it; `description` is for humans.
 * Neither ever contains a ticket or a token.
 */
export class WsTicketError extends Error {
  override readonly name = 'WsTicketError';
  readonly data: WsTicketErrorData;
  readonly description: string;

  constructor(
    readonly code: WsTicketErrorCode,
    options?: { cause?: unknown },
  ) {
    super(code, options);
    this.data = { code };
    this.description = MESSAGES[code];
  }
}

/** Human-readable description of a code, safe to show to end users. */
export function describeWsTicketError(code: WsTicketErrorCode): string {
  return MESSAGES[code];
}
