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
