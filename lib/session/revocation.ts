import type { BoundedTicketStore } from '../stores/bounded-ticket-store.js';
import { WsTicketError, WsTicketErrorCode } from '../ws-ticket.errors.js';
import { LocalRevocations } from './revocations.js';
import type { WsTicketSession } from './ws-ticket-session.types.js';

/** A session as far as revocation looks at it. */
type Stamped = Pick<WsTicketSession, 'userId' | 'stamp'>;

/**
 * Makes revocation final on every path. A revocation is recorded twice: on this process's monotonic
 * clock (handshakes in flight and shared consumptions here, no round trip, no clock skew) and as the
 * user's generation in the store (every other instance). A ticket carries the generation it was
 * issued under; a socket is admitted only when the generation is unchanged once it sits where
 * `disconnectUser` finds it.
 */
export class Revocation {
  /** Recent revocations of this process. */
  readonly local: LocalRevocations;

  constructor(
    private readonly store: BoundedTicketStore,
    /** How long a local revocation must be remembered: longer than any handshake or sharing. */
    horizon: number,
  ) {
    this.local = new LocalRevocations(horizon);
  }

  /** The generation a ticket issued now carries. */
  generation(userId: string): Promise<number> {
    return this.store.readGeneration(userId, true);
  }

  /** True when this process revoked the session's user after the session started. */
  isRevoked(session: Stamped): boolean {
    return this.local.revokedSince(session.userId, session.stamp.startedAt);
  }

  /** @throws WsTicketError `user_revoked` when {@link isRevoked} */
  assertNotRevoked(session: Stamped): void {
    if (this.isRevoked(session)) throw new WsTicketError(WsTicketErrorCode.USER_REVOKED);
  }

  /**
   * The check that admits a socket: not revoked here, and the user's generation unchanged since the
   * ticket was issued (a revocation on any instance).
   * @throws WsTicketError `user_revoked` or `store_unavailable`
   */
  async confirm(session: Stamped): Promise<void> {
    this.assertNotRevoked(session);
    const generation = await this.store.readGeneration(session.userId, false);
    if (generation !== session.stamp.generation) {
      throw new WsTicketError(WsTicketErrorCode.USER_REVOKED);
    }
    this.assertNotRevoked(session);
  }

  /** Revokes what the user holds: here at once, then in the store. Resolves the new generation. */
  revoke(userId: string): Promise<number> {
    this.local.revoke(userId);
    return this.store.bumpGeneration(userId);
  }
}
