import type { Socket } from 'socket.io';
import type { WsTicketErrorCode } from '../ws-ticket.errors.js';
import { WS_TICKET_UNAUTHORIZED_EVENT } from '../ws-ticket-session.js';

/**
 * Tells Socket.IO sockets why (`unauthorized` `{ code }`), then disconnects them from the server.
 * Every socket is told before any is disconnected: `disconnect(true)` closes the connection, and
 * with it every other namespace socket multiplexed on it, which could then be told nothing.
 */
export function expel(sockets: Socket | readonly Socket[], code: WsTicketErrorCode): void {
  const all = Array.isArray(sockets) ? sockets : [sockets as Socket];
  for (const socket of all) socket.emit(WS_TICKET_UNAUTHORIZED_EVENT, { code });
  for (const socket of all) socket.disconnect(true);
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
