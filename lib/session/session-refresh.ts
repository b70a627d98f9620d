import type { WsTicketHandshake } from '../ws-ticket.types.js';
import type { Revocation } from './revocation.js';
import type { TicketConsumer } from './ticket-consumer.js';
import type { WsTicketSession } from './ws-ticket-session.types.js';

/**
 * A live connection's session extended with a fresh ticket (`ws-ticket:refresh`): the ticket is
 * consumed exactly as at a handshake (origin, format, single-use take, binding, session end,
 * revocation, `resolveUser`, then the admission's generation check) and must name the connection's
 * user. What a revocation did to the connection itself is the adapters' part: `disconnectUser`
 * closed it, and they extend no socket that is no longer open. `revokeUserTickets` leaves open
 * sockets open, and a ticket issued after it refreshes them like it opens new ones.
 */
export class SessionRefresh<TUser> {
  constructor(
    private readonly consumer: TicketConsumer<TUser>,
    private readonly revocation: Revocation,
  ) {}

  /**
   * Resolves the session that replaces `current`.
   * @throws WsTicketError `user_mismatch`, `user_revoked`, or any handshake refusal
   */
  async refresh(
    current: WsTicketSession<TUser>,
    ticket: unknown,
    handshake: WsTicketHandshake,
  ): Promise<WsTicketSession<TUser>> {
    const next = await this.consumer.consume(ticket, handshake, current.userId);
    // A revocation anywhere since the new ticket was issued, as at a handshake's admission.
    await this.revocation.confirm(next);
    return next;
  }
}
