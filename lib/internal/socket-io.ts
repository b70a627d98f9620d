import type { Socket } from 'socket.io';
import type { WsTicketSocketPlace } from '../telemetry/ws-ticket-telemetry.js';
import type { WsTicketErrorCode } from '../ws-ticket.errors.js';
import { WS_TICKET_UNAUTHORIZED_EVENT } from '../ws-ticket-session.js';

/**
 * Tells Socket.IO sockets why (`unauthorized` `{ code }`), then disconnects them from the server.
 * Every socket is told before any is disconnected: `disconnect(true)` closes the connection, and
 * with it every other namespace socket multiplexed on it, which could then be told nothing.
 */
export function expel(sockets: Socket | readonly Socket[], code: WsTicketErrorCode): void {
  const all = Array.isArray(sockets) ? sockets : [sockets as Socket];
  for (const socket of all) tell(socket, code);
  for (const socket of all) socket.disconnect(true);
}

/** Why the module is closing a socket, for its `session-end` event. */
const closeCodes = new WeakMap<Socket, WsTicketErrorCode>();

/** Tells one socket why (`unauthorized` `{ code }`) it is about to be disconnected. */
export function tell(socket: Socket, code: WsTicketErrorCode): void {
  if (!closeCodes.has(socket)) closeCodes.set(socket, code);
  socket.emit(WS_TICKET_UNAUTHORIZED_EVENT, { code });
}

/** The code the module closed the socket with, or `null` (the client left, the app closed it). */
export function closeCodeOf(socket: Socket): WsTicketErrorCode | null {
  return closeCodes.get(socket) ?? null;
}

/**
 * Calls `gone` once when the socket is gone for good, whichever way: disconnected after
 * `connection`, or dropped before it (refused by a later middleware, or its connection closed
 * while the middlewares ran; Socket.IO emits nothing for those). All three run the socket's
 * `_cleanup()`, which is wrapped here; a Socket.IO without it falls back to `disconnect`.
 */
export function onGone(socket: Socket, gone: () => void): void {
  const internal = socket as unknown as { _cleanup?: () => void };
  const cleanup = internal._cleanup;
  if (typeof cleanup !== 'function') {
    socket.once('disconnect', gone);
    return;
  }
  let called = false;
  internal._cleanup = () => {
    if (!called) {
      called = true;
      gone();
    }
    cleanup.call(socket);
  };
}

/** Where a Socket.IO socket is, for the module's events. */
export function placeOf(socket: Socket): WsTicketSocketPlace {
  return { transport: 'socket.io', namespace: socket.nsp.name };
}
