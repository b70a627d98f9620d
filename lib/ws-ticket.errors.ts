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
  /**
   * `resolveUser` refused the identity behind a valid ticket (it returned `undefined`, `null` or
   * `false`): a deliberate answer, which the client helper does not retry. A `resolveUser` that
   * throws is `store_unavailable`, never this.
   */
  USER_REJECTED: 'user_rejected',
  /**
   * A failure, not a refusal: the ticket store could not be reached in time, or the app's code
   * failed (`resolveUser` or an `allowedOrigins` function threw or timed out, an adapter or guard
   * override threw). The error is logged on the server with its stack and never sent to the
   * client. Retrying later may succeed (HTTP 503 with `Retry-After` at the ticket endpoint).
   */
  STORE_UNAVAILABLE: 'store_unavailable',
  /** The handshake's `Origin` is not in `allowedOrigins`. Checked before the ticket. */
  ORIGIN_FORBIDDEN: 'origin_forbidden',
  /** The ticket is bound (`bind`) to another IP address or user agent than the handshake's. */
  TICKET_BINDING_MISMATCH: 'ticket_binding_mismatch',
  /**
   * Sent in `unauthorized` before the server closes a socket whose session (JWT `exp`) ended; the
   * close reason (code 4001) on raw WebSockets. Also refuses a ticket whose session already ended.
   */
  SESSION_EXPIRED: 'session_expired',
  /**
   * Sent in `unauthorized` before the server closes a socket of a user disconnected by the app; the
   * close reason (code 4003) on raw WebSockets.
   */
  USER_REVOKED: 'user_revoked',
  /**
   * Ticket endpoint (HTTP 429): too many tickets issued to this user in the window. Session
   * refresh: too many refused `ws-ticket:refresh` attempts on one connection (10 a minute), or
   * too many waiting; the store was not touched. Rooms: too many `ws-ticket:join` attempts from
   * one connection in `roomJoinLimit.window` (every attempt counts); no rule ran.
   */
  RATE_LIMITED: 'rate_limited',
  /**
   * Session refresh only: the refresh ticket names another user than the connection's. The refresh
   * is refused, then the server emits `unauthorized` `{ code }` and closes the whole connection (raw
   * WebSocket: close code 4003). The client helper does not reconnect on its own.
   */
  USER_MISMATCH: 'user_mismatch',
  /**
   * The user already holds `maxConnectionsPerUser` open connections (on every instance sharing
   * the store). With `onConnectionLimit: 'refuse'` the handshake is refused (the ticket is spent;
   * raw WebSocket: HTTP 429 at the upgrade). With `'close-oldest'` the new connection is accepted
   * and the user's oldest one gets `unauthorized` `{ code }` and is closed (raw WebSocket: close
   * code 4409). The client helper does not reconnect on its own after either.
   */
  CONNECTION_LIMIT: 'connection_limit',
  /**
   * Ticket endpoint only (HTTP 503 with `Retry-After`): a failure, not a refusal. The bearer
   * token's key is not among the cached keys of its `jwt.jwks` source, and the provider's JWKS
   * endpoint failed or timed out (`jwks.timeout`), or failed less than `jwks.cooldown` ago. Tokens
   * whose key is cached keep verifying meanwhile. Retried by clients; the failure is logged.
   */
  JWKS_UNAVAILABLE: 'jwks_unavailable',
  /**
   * Rooms (`ws-ticket:join` / `ws-ticket:leave` ack): the payload is not an object whose `room` is
   * a string of 1-200 characters among `A-Z a-z 0-9 : _ . -`. No rule ran.
   */
  ROOM_MALFORMED: 'room_malformed',
  /**
   * Rooms: no room rule matches the room (deny by default), a matching rule did not answer `true`
   * or threw (logged), or the room is the module's own (`ws-ticket:*`) or shaped like a Socket.IO
   * socket id. Also the `ws-ticket:left` code of a room left after a refresh or a recovery whose
   * re-check refused it.
   */
  ROOM_FORBIDDEN: 'room_forbidden',
  /** Rooms: the socket already holds `maxRoomsPerSocket` rooms it joined (or is joining). */
  ROOM_LIMIT: 'room_limit',
  /**
   * Rooms: a matching rule did not answer within `callbackTimeout`; nothing was joined. A failure,
   * not a refusal: retrying later may succeed. Also the `ws-ticket:left` code of a room whose rule
   * did not answer at a refresh or recovery re-check.
   */
  ROOM_UNAVAILABLE: 'room_unavailable',
  /**
   * Rooms: the `ws-ticket:left` code of a socket the server took out of a room with
   * `WsTicketRooms.removeFromRoom()` (its default code).
   */
  ROOM_REVOKED: 'room_revoked',
} as const;

/** The codes that answer room requests and announce rooms left; they never close a socket. */
export type WsTicketRoomCode =
  | 'room_malformed'
  | 'room_forbidden'
  | 'room_limit'
  | 'room_unavailable'
  | 'room_revoked';

/** One of the values of {@link WsTicketErrorCode}. */
export type WsTicketErrorCode = (typeof WsTicketErrorCode)[keyof typeof WsTicketErrorCode];

const MESSAGES: Record<WsTicketErrorCode, string> = {
  ticket_missing: 'No WebSocket ticket was sent.',
  ticket_malformed: 'The WebSocket ticket is not well formed.',
  ticket_invalid: 'The WebSocket ticket is unknown, expired or already used.',
  user_rejected: 'The user behind the WebSocket ticket was refused.',
  store_unavailable: 'The ticket store is unavailable; try again shortly.',
  origin_forbidden: 'The origin of this connection is not allowed.',
  ticket_binding_mismatch: 'The WebSocket ticket was issued to another client.',
  session_expired: 'The session behind this connection has expired.',
  user_revoked: 'This connection was closed by the server.',
  rate_limited: 'Too many WebSocket tickets requested; retry later.',
  user_mismatch: 'The refresh ticket belongs to another user than this connection.',
  connection_limit: 'Too many connections are open for this user.',
  jwks_unavailable: "The identity provider's signing keys are unavailable; try again shortly.",
  room_malformed: 'The room name is not well formed.',
  room_forbidden: 'This room is not open to this connection.',
  room_limit: 'This connection has joined too many rooms.',
  room_unavailable: 'The room could not be checked in time; try again shortly.',
  room_revoked: 'The server took this connection out of the room.',
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
  /** For `rate_limited`: seconds until a new ticket may be issued; for `jwks_unavailable`, until the keys may be fetched again. */
  readonly retryAfter?: number;

  constructor(
    readonly code: WsTicketErrorCode,
    options?: { cause?: unknown; retryAfter?: number },
  ) {
    super(code, options);
    this.data = { code };
    this.description = MESSAGES[code];
    this.retryAfter = options?.retryAfter;
  }
}

/** Human-readable description of a code, safe to show to end users. */
export function describeWsTicketError(code: WsTicketErrorCode): string {
  return MESSAGES[code];
}
