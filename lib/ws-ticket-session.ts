import { SessionClock } from './session/session-clock.js';
import type { WsTicketErrorCode } from './ws-ticket.errors.js';

/**
 * What the adapters keep per connection: `socket.data` on Socket.IO (where it survives
 * connection-state recovery and travels with `fetchSockets()`), `client.data` on raw WebSockets.
 */
export interface WsTicketSocketData<TUser = unknown> {
  /** The resolved user, also given by `@WsUser()`. */
  user: TUser;
  /** The user's id (`getUserId`); on Socket.IO the socket is in room `ws-ticket:user:<userId>`. */
  userId?: string | undefined;
  /** When the session behind the connection ends, epoch milliseconds. */
  sessionExpiresAt?: number | undefined;
  /**
   * Socket.IO: the rooms the client joined through `ws-ticket:join`, kept here so that a socket
   * brought back by connection-state recovery is checked again for each. Read-only for the app.
   */
  wsTicketRooms?: string[] | undefined;
}

/** Event the server emits (with `{ code }`) right before it closes a socket for auth reasons. */
export const WS_TICKET_UNAUTHORIZED_EVENT = 'unauthorized';

/**
 * Event the server emits (with {@link WsTicketExpiring}) `refreshWindow` before a socket's session
 * ends: answer with {@link WS_TICKET_REFRESH_EVENT} and a fresh ticket to keep the socket.
 */
export const WS_TICKET_EXPIRING_EVENT = 'ws-ticket:expiring';

/**
 * Event a client emits, with `{ uuid }` (the module's `param`) and an ack, to extend its
 * connection's session with a fresh ticket. The ack is a {@link WsTicketRefreshAck}; on raw
 * WebSockets the answer is a frame with the same event. Never reaches gateway handlers.
 */
export const WS_TICKET_REFRESH_EVENT = 'ws-ticket:refresh';

/**
 * Prefix of the module's own events: client events named so (`ws-ticket:refresh`, and any other
 * `ws-ticket:*`) are handled or dropped by the adapters and never reach gateway handlers.
 */
export const WS_TICKET_EVENT_PREFIX = 'ws-ticket:';

/** Payload of {@link WS_TICKET_EXPIRING_EVENT}. */
export interface WsTicketExpiring {
  /** When the session ends unless refreshed, epoch milliseconds. */
  expiresAt: number;
}

/**
 * Answer to {@link WS_TICKET_REFRESH_EVENT}: the session's new end (epoch milliseconds; `null` when
 * the new ticket's claims carry no `exp`), or the refusal's code, after which the session keeps its
 * old end (`user_mismatch` also closes the connection).
 */
export type WsTicketRefreshAck =
  | { ok: true; expiresAt: number | null }
  | { ok: false; code: WsTicketErrorCode };

/** Name of the Socket.IO room every authenticated socket of a user joins. */
export function wsTicketUserRoom(userId: string): string {
  return `ws-ticket:user:${userId}`;
}

/**
 * Calls `onEnd` at `endsAt` (epoch milliseconds), however far away. Returns a function that cancels
 * it; call it when the connection closes so that short-lived sockets leave no timer behind. (The
 * adapters keep their sockets' sessions with the same clock, which also announces the end.)
 */
export function scheduleSessionEnd(endsAt: number, onEnd: () => void): () => void {
  const clock = new SessionClock(0, { expiring: () => undefined, end: onEnd });
  clock.set(endsAt);
  return () => clock.stop();
}
