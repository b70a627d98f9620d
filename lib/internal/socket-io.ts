import type { Socket } from 'socket.io';
import type { WsTicketErrorCode } from '../ws-ticket.errors.js';
import { WS_TICKET_UNAUTHORIZED_EVENT } from '../ws-ticket-session.js';

/** Tells a Socket.IO socket why (`unauthorized` `{ code }`), then disconnects it from the server. */
export function expel(socket: Socket, code: WsTicketErrorCode): void {
  socket.emit(WS_TICKET_UNAUTHORIZED_EVENT, { code });
  socket.disconnect(true);
}
