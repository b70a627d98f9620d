import { createHash } from 'node:crypto';
import { withTimeout } from '../internal/with-timeout.js';
import { WsTicketError, WsTicketErrorCode } from '../ws-ticket.errors.js';
import {
  TicketStore,
  type TicketStoreConnectionSlot,
  type TicketStoreCounter,
  type TicketStoreMessageListener,
  type TicketStoreUnsubscribe,
} from './ticket-store.js';

/** How {@link BoundedTicketStore} names keys and bounds waits. */
export interface BoundedTicketStoreOptions {
  /** Prefix of every key. */
  keyPrefix: string;
  /** Upper bound on one store operation, milliseconds. */
  timeout: number;
  /** Life of a revocation generation after its last use, milliseconds. */
  generationTtl: number;
}

/**
 * The service's only way to the {@link TicketStore}: names every key (prefix + SHA-256, so neither a
 * ticket nor a user id is ever stored as such), bounds every operation by the store timeout, and
 * turns any failure into `store_unavailable` after reporting it to `onFailure`.
 */
export class BoundedTicketStore {
  /** Whether the store keeps revocation generations (otherwise they read as 0). */
  readonly sharesRevocations: boolean;

  constructor(
    private readonly store: TicketStore,
    private readonly options: BoundedTicketStoreOptions,
    private readonly onFailure: (error: unknown) => void,
  ) {
    this.sharesRevocations = (['readGeneration', 'bumpGeneration'] as const).every(
      (name) => store[name] !== TicketStore.prototype[name],
    );
  }

  /** Whether the store counts (what the issuance limit needs). */
  get counts(): boolean {
    return this.store.increment !== TicketStore.prototype.increment;
  }

  /** Whether the store keeps connection slots (what `maxConnectionsPerUser` needs). */
  get holdsConnections(): boolean {
    return CONNECTION_METHODS.every((name) => this.store[name] !== TicketStore.prototype[name]);
  }

  /** Whether the store carries messages between instances (`publish` and `subscribe`). */
  get publishes(): boolean {
    return (['publish', 'subscribe'] as const).every(
      (name) => this.store[name] !== TicketStore.prototype[name],
    );
  }

  /** The store's class name, for messages. */
  get name(): string {
    return this.store.constructor.name;
  }

  /**
   * Fails the boot when the issuance limit needs counting the store lacks, naming the fix. A store
   * without revocation generations still works, with revocation local to this process: said once.
   */
  check(
    needs: { issueLimit: boolean; connectionLimit: boolean },
    logger: { warn(message: string): void },
  ): void {
    if (needs.issueLimit && !this.counts) {
      throw new Error(
        `WsTicketModule: ${this.name} has no increment(), which the issuance limit ` +
          'needs: implement it, or set `issueLimit: false`.',
      );
    }
    if (needs.connectionLimit && !this.holdsConnections) {
      throw new Error(
        `WsTicketModule: ${this.name} has no ${CONNECTION_METHODS.join('()/')}(), which ` +
          '`maxConnectionsPerUser` (on by default) needs: implement them (see TicketStore), or ' +
          'set `maxConnectionsPerUser: false`.',
      );
    }
    if (!this.sharesRevocations) {
      logger.warn(
        `${this.name} has no readGeneration()/bumpGeneration(): revocation reaches ` +
          'this process only. Implement both (see TicketStore) when several instances share it.',
      );
    }
  }

  put(ticket: string, value: string, ttl: number, userId: string): Promise<void> {
    return this.run(() =>
      this.store.put(this.ticketKey(ticket), value, ttl, this.ownerKey(userId)),
    );
  }

  take(ticket: string): Promise<string | undefined> {
    return this.run(() => this.store.take(this.ticketKey(ticket)));
  }

  /** Deletes the user's live tickets; resolves how many there were. */
  revokeOwner(userId: string): Promise<number> {
    return this.run(() => this.store.revokeOwner(this.ownerKey(userId)));
  }

  /** Counts one issuance of the user in the current window. */
  increment(userId: string, window: number): Promise<TicketStoreCounter> {
    return this.run(() => this.store.increment(this.userKey('rate', userId), window));
  }

  /**
   * The user's revocation generation (0 with a store that keeps none). `extend` (at issuance) makes
   * it outlive the ticket about to be issued; the check at admission is a plain read.
   */
  async readGeneration(userId: string, extend: boolean): Promise<number> {
    if (!this.sharesRevocations) return 0;
    const key = this.userKey('revoked', userId);
    const ttl = extend ? this.options.generationTtl : undefined;
    return this.run(() => this.store.readGeneration(key, ttl));
  }

  /** Moves the user's revocation generation on. */
  async bumpGeneration(userId: string): Promise<number> {
    if (!this.sharesRevocations) return 0;
    const key = this.userKey('revoked', userId);
    return this.run(() => this.store.bumpGeneration(key, this.options.generationTtl));
  }

  /**
   * Takes a slot in the user's connection set (see `TicketStore.acquireConnection`). When that
   * fails or times out, the store may still take the slot afterwards, and evict for it: that is
   * undone (`cancelConnection`) at once, behind the acquisition on a store that keeps the order of
   * its commands (as Redis does), and again once the acquisition has answered (on one that does
   * not).
   */
  async acquireConnection(
    userId: string,
    id: string,
    limit: number,
    lease: number,
    evictOldest: boolean,
  ): Promise<TicketStoreConnectionSlot> {
    const key = this.userKey('conn', userId);
    let late: Promise<unknown> | undefined;
    try {
      return await this.run(() => {
        const acquisition = this.store.acquireConnection(key, id, limit, lease, evictOldest);
        late = acquisition;
        return acquisition;
      });
    } catch (error) {
      const cancel = () => this.run(() => this.store.cancelConnection(key, id)).catch(() => {});
      void cancel();
      late?.then(cancel, () => {});
      throw error;
    }
  }

  /** Renews the leases of the user's connections held here; resolves the ids that lost theirs. */
  renewConnections(userId: string, ids: string[], limit: number, lease: number): Promise<string[]> {
    const key = this.userKey('conn', userId);
    return this.run(() => this.store.renewConnections(key, ids, limit, lease));
  }

  /** Gives a connection's slot back. */
  releaseConnection(userId: string, id: string): Promise<void> {
    return this.run(() => this.store.releaseConnection(this.userKey('conn', userId), id));
  }

  /** The user's live connection slots. */
  countConnections(userId: string): Promise<number> {
    return this.run(() => this.store.countConnections(this.userKey('conn', userId)));
  }

  /** Publishes on the module's channel between instances (`<keyPrefix>instances`). */
  publish(message: string): Promise<void> {
    return this.run(() => this.store.publish(this.channel, message));
  }

  /**
   * Subscribes to the module's channel. Not bounded here: a subscription made while the store is
   * away is confirmed once it is back; the caller bounds its own wait.
   */
  subscribe(listener: TicketStoreMessageListener): Promise<TicketStoreUnsubscribe> {
    return this.store.subscribe(this.channel, listener);
  }

  private get channel(): string {
    return `${this.options.keyPrefix}instances`;
  }

  private ticketKey(ticket: string): string {
    return this.options.keyPrefix + sha256(ticket);
  }

  private ownerKey(userId: string): string {
    return this.userKey('user', userId);
  }

  private userKey(kind: 'user' | 'rate' | 'revoked' | 'conn', userId: string): string {
    return `${this.options.keyPrefix}${kind}:${sha256(userId)}`;
  }

  private async run<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await withTimeout(operation, this.options.timeout, () => new Error('timed out'));
    } catch (error) {
      this.onFailure(error);
      throw new WsTicketError(WsTicketErrorCode.STORE_UNAVAILABLE, { cause: error });
    }
  }
}

const CONNECTION_METHODS = [
  'acquireConnection',
  'renewConnections',
  'releaseConnection',
  'countConnections',
] as const;

/** Hex SHA-256. */
export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
