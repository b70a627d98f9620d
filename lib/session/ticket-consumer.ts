import type { BoundedTicketStore } from '../stores/bounded-ticket-store.js';
import { TICKET_FORMAT } from '../ws-ticket.constants.js';
import { WsTicketError, WsTicketErrorCode } from '../ws-ticket.errors.js';
import type { WsTicketClaims } from '../ws-ticket.options.js';
import type { WsTicketHandshake } from '../ws-ticket.types.js';
import type { AppCallbacks } from './app-callbacks.js';
import type { OriginCheck } from './origin-check.js';
import type { Revocation } from './revocation.js';
import type { TicketBinding } from './ticket-binding.js';
import { parseRecord } from './ticket-record.js';
import type { WsTicketSession } from './ws-ticket-session.types.js';

/** What {@link TicketConsumer} asks on the way from a handshake to a session. */
export interface TicketConsumerParts<TUser> {
  tickets: BoundedTicketStore;
  origins: OriginCheck;
  binding: TicketBinding;
  revocation: Revocation;
  callbacks: AppCallbacks<TUser>;
  userIdOf: (claims: WsTicketClaims) => string | undefined;
  closeOnSessionEnd: boolean;
}

/**
 * One handshake's ticket to a session, cheapest checks first: the origin and the ticket's shape
 * before the store is touched, the single-use take, the record's expiry, binding and session end,
 * revocation, then `resolveUser` (and revocation again: its answer may predate one).
 */
export class TicketConsumer<TUser> {
  constructor(private readonly parts: TicketConsumerParts<TUser>) {}

  /**
   * @param sameUser for a refresh: the connection's user id, which the ticket must name (checked
   *   before the session end and `resolveUser`)
   * @throws WsTicketError with the refusal's code
   */
  async consume(
    ticket: unknown,
    handshake: WsTicketHandshake,
    sameUser?: string,
  ): Promise<WsTicketSession<TUser>> {
    const { tickets, origins, binding, revocation, callbacks, userIdOf } = this.parts;
    const startedAt = performance.now();
    await origins.check(handshake);
    if (ticket === undefined || ticket === null || ticket === '') {
      throw new WsTicketError(WsTicketErrorCode.TICKET_MISSING);
    }
    if (typeof ticket !== 'string' || !TICKET_FORMAT.test(ticket)) {
      throw new WsTicketError(WsTicketErrorCode.TICKET_MALFORMED);
    }
    const raw = await tickets.take(ticket);
    const record = raw === undefined ? undefined : parseRecord(raw);
    const now = Date.now();
    const userId = record && userIdOf(record.claims);
    if (!record || record.expiresAt <= now || userId === undefined) {
      throw new WsTicketError(WsTicketErrorCode.TICKET_INVALID);
    }
    if (!binding.matches(record, handshake)) {
      throw new WsTicketError(WsTicketErrorCode.TICKET_BINDING_MISMATCH);
    }
    if (sameUser !== undefined && userId !== sameUser) {
      throw new WsTicketError(WsTicketErrorCode.USER_MISMATCH);
    }
    const sessionExpiresAt =
      typeof record.claims.exp === 'number' ? record.claims.exp * 1000 : undefined;
    if (this.parts.closeOnSessionEnd && sessionExpiresAt !== undefined && sessionExpiresAt <= now) {
      throw new WsTicketError(WsTicketErrorCode.SESSION_EXPIRED);
    }
    const stamp = { startedAt, generation: typeof record.gen === 'number' ? record.gen : 0 };
    const session = { userId, sessionExpiresAt, stamp };
    revocation.assertNotRevoked(session);
    const user = await callbacks.resolveUser(record.claims);
    if (user === undefined) throw new WsTicketError(WsTicketErrorCode.USER_REJECTED);
    // A revocation that landed while resolveUser ran (its answer may predate it).
    revocation.assertNotRevoked(session);
    return { user, ...session };
  }
}
