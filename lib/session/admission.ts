import { WsTicketError, WsTicketErrorCode } from '../ws-ticket.errors.js';
import type { WsTicketService } from '../ws-ticket.service.js';
import type { WsTicketConnection, WsTicketConnectionLost } from '../ws-ticket.types.js';
import type { WsTicketSession } from './ws-ticket-session.types.js';

/**
 * The last two checks of a handshake, once the socket is findable by `disconnectUser`: the
 * revocation check (`confirmSession`) and the connection cap (`holdConnection`). With
 * `onConnectionLimit: 'refuse'` they run at once, so that the cap adds no store round trip to the
 * handshake's latency; a handshake refused by the first gives back the slot the second took. With
 * `'close-oldest'` the cap comes after the revocation check: a handshake about to be refused must
 * not close anyone's connection. Resolves the function that lets go of the slot.
 *
 * The connection must be open when its slot is taken, or its close (which gives the slot back)
 * has passed already: `isOpen` is asked right before, and a closed one is `ticket_invalid` (nobody
 * is there to read it).
 * @throws WsTicketError `user_revoked`, `connection_limit`, `ticket_invalid` or `store_unavailable`
 */
export async function admitConnection(
  service: WsTicketService,
  session: WsTicketSession,
  connection: WsTicketConnection,
  isOpen: () => boolean,
  lost: WsTicketConnectionLost,
): Promise<() => void> {
  const hold = () => {
    if (!isOpen()) throw new WsTicketError(WsTicketErrorCode.TICKET_INVALID);
    return service.holdConnection(session.userId, connection, lost);
  };
  if (service.maxConnectionsPerUser === false || service.onConnectionLimit === 'close-oldest') {
    await service.confirmSession(session);
    return hold();
  }
  const [confirmed, held] = await Promise.allSettled([
    service.confirmSession(session),
    Promise.resolve().then(hold),
  ]);
  if (confirmed.status === 'rejected') {
    if (held.status === 'fulfilled') held.value();
    throw confirmed.reason;
  }
  if (held.status === 'rejected') throw held.reason;
  return held.value;
}
