import type { IncomingMessage } from 'node:http';
import type { WsTicketErrorCode, WsTicketRoomCode } from '../ws-ticket.errors.js';

/*
 * The raw WebSocket wire contract: the `Sec-WebSocket-Protocol` ticket scheme, the HTTP statuses of
 * refused upgrades and the close codes of open sockets. Nothing here imports `ws`: the main entry
 * re-exports these tables, and `ws` is an optional peer.
 */

/** `ws`'s `handleProtocols` option, written out so that this file needs no `ws` types. */
type HandleProtocols = (protocols: Set<string>, request: IncomingMessage) => string | false;

/**
 * Marker subprotocol of the `Sec-WebSocket-Protocol` scheme. A client that carries its ticket in
 * the header offers it next to the ticket entry, so that the server always has a protocol it may
 * echo (browsers and `ws` fail a connection that offered protocols and got none back).
 */
export const WS_TICKET_PROTOCOL = 'ws-ticket';

/** Prefix of the subprotocol entry carrying the ticket: `ws-ticket.<uuid>`. */
export const WS_TICKET_PROTOCOL_PREFIX = `${WS_TICKET_PROTOCOL}.`;

/**
 * HTTP status answering a refused upgrade, by refusal code: 401 for ticket problems, 403 for
 * origin or binding refusals and for a user revoked during the upgrade, 429 when the user holds
 * `maxConnectionsPerUser` connections already, 503 when the store is down. Any other code is
 * answered 401.
 */
export const WS_TICKET_REFUSAL_STATUS = {
  ticket_missing: 401,
  ticket_malformed: 401,
  ticket_invalid: 401,
  user_rejected: 401,
  session_expired: 401,
  origin_forbidden: 403,
  ticket_binding_mismatch: 403,
  user_revoked: 403,
  connection_limit: 429,
  store_unavailable: 503,
  jwks_unavailable: 503,
} as const satisfies Partial<Record<WsTicketErrorCode, 401 | 403 | 429 | 503>>;

/**
 * WebSocket close code (RFC 6455 private range 4000-4999) the server closes a socket with, by code:
 * 4000 + the HTTP status the same code gets elsewhere (a refused upgrade, or 429 at the ticket
 * endpoint), so that `session_expired` is 4001 ("authenticate again": fetch a new ticket after a new
 * login) and `user_revoked` is 4003 ("forbidden": do not reconnect on your own). The close reason is
 * the code string itself. One exception: `connection_limit` is 4409 ("conflict": a newer connection
 * of the same user took this one's place, with `onConnectionLimit: 'close-oldest'`), not 4429,
 * so that no client mistakes it for `rate_limited`'s "retry later" and reconnects, which would
 * close the next oldest in turn. The adapter closes with `session_expired` at a session's end, with
 * `user_mismatch` (4003: a refresh ticket of another user) and with `connection_limit` on its own;
 * the other codes come from `WsTicketService.disconnectUser(userId, code)`. The room codes
 * (`room_*`) answer room requests and close nothing: {@link FALLBACK_CLOSE_CODE} if passed.
 */
export const WS_TICKET_CLOSE_CODES = {
  ticket_missing: 4001,
  ticket_malformed: 4001,
  ticket_invalid: 4001,
  user_rejected: 4001,
  session_expired: 4001,
  origin_forbidden: 4003,
  ticket_binding_mismatch: 4003,
  user_revoked: 4003,
  user_mismatch: 4003,
  rate_limited: 4429,
  connection_limit: 4409,
  store_unavailable: 4503,
  jwks_unavailable: 4503,
} as const satisfies Record<Exclude<WsTicketErrorCode, WsTicketRoomCode>, number>;

/** Close code for a code missing from {@link WS_TICKET_CLOSE_CODES} (a plain-JS caller's string). */
export const FALLBACK_CLOSE_CODE = 4000;

/** The subprotocols the client offered, in order (ws has already validated the header). */
export function offeredProtocols(request: IncomingMessage): string[] {
  const header = request.headers['sec-websocket-protocol'];
  if (typeof header !== 'string' || header === '') return [];
  return header.split(',').map((protocol) => protocol.trim());
}

export function ticketEntries(request: IncomingMessage): string[] {
  return offeredProtocols(request)
    .filter((protocol) => protocol.startsWith(WS_TICKET_PROTOCOL_PREFIX))
    .map((protocol) => protocol.slice(WS_TICKET_PROTOCOL_PREFIX.length));
}

/**
 * Picks the subprotocol to echo: the ticket entries are never seen by the app nor echoed; the app's
 * choice (or ws's default, the first offered) among the real ones; the marker when the client
 * offered nothing else.
 */
export function selectProtocol(
  protocols: Set<string>,
  request: IncomingMessage,
  own: HandleProtocols | undefined,
): string | false {
  const real = new Set<string>();
  for (const protocol of protocols) {
    if (protocol !== WS_TICKET_PROTOCOL && !protocol.startsWith(WS_TICKET_PROTOCOL_PREFIX)) {
      real.add(protocol);
    }
  }
  if (real.size === 0) return protocols.has(WS_TICKET_PROTOCOL) ? WS_TICKET_PROTOCOL : false;
  if (own) return own(real, request);
  return real.values().next().value ?? false;
}
