import { randomBytes } from 'node:crypto';
import type { BoundedTicketStore } from '../stores/bounded-ticket-store.js';
import { WsTicketError, WsTicketErrorCode } from '../ws-ticket.errors.js';
import type { WsTicketConnection, WsTicketConnectionLost } from '../ws-ticket.types.js';

/** How {@link ConnectionLimit} counts. */
export interface ConnectionLimitOptions {
  /** Connections per user. */
  max: number;
  /** `onConnectionLimit: 'close-oldest'`. */
  evictOldest: boolean;
  /** Life of a slot after its last renewal, milliseconds. */
  lease: number;
}

/** A slot this process holds. */
interface Held {
  userId: string;
  id: string;
  lost: WsTicketConnectionLost;
  /** Its connection's slots. */
  slots: ConnectionSlots;
  /** Handshakes that hold it and have not let go (Socket.IO namespace sockets of the user). */
  refs: number;
  /** Taken away (`close-oldest`, or a lease that ran out with no room left). */
  taken: boolean;
}

/** The slots of one connection, by user (Socket.IO namespaces may carry different users). */
interface ConnectionSlots {
  byUser: Map<string, Promise<Held>>;
  closed: boolean;
}

/** Renewals in flight at once, so that a large instance does not flood the store. */
const RENEWAL_CONCURRENCY = 64;

/**
 * `maxConnectionsPerUser`: each authenticated connection holds a slot in its user's connection set
 * in the store (one key per user), taken at the handshake in one store call, given back when the
 * connection closes, and renewed every third of the lease while it is open, so that a crashed
 * instance's slots run out on their own. A connection counts once per user, however many of its
 * handshakes (multiplexed Socket.IO namespaces) ask.
 */
export class ConnectionLimit {
  /** Names this process's connections in the store: ids are `<instance>.<n>`. */
  private readonly instance = randomBytes(9).toString('base64url');
  private sequence = 0;
  private readonly connections = new WeakMap<WsTicketConnection, ConnectionSlots>();
  /** Slots held by this process, by user and id: what renewals extend. */
  private readonly held = new Map<string, Map<string, Held>>();
  private timer: NodeJS.Timeout | undefined;
  private renewing = false;

  constructor(
    private readonly tickets: BoundedTicketStore,
    private readonly options: ConnectionLimitOptions,
    /** Passes on the evicted ids this process does not hold (another instance's connections). */
    private readonly announce: (userId: string, ids: readonly string[]) => void,
  ) {}

  /** Users with a slot held by this process. */
  get users(): number {
    return this.held.size;
  }

  /**
   * Takes a slot for the user's connection, unless the connection holds one for the user already.
   * The caller has just seen the connection open: its `close` gives the slot back. `lost` closes the
   * connection if its slot is taken away (`close-oldest`, or a lease that ran out with no room left).
   * Resolves a function that lets go of this hold: once every hold of the user on the connection
   * let go (the last of its namespace sockets left), the slot goes back while the connection
   * stays open.
   * @throws WsTicketError `connection_limit` or `store_unavailable`
   */
  async hold(
    userId: string,
    connection: WsTicketConnection,
    lost: WsTicketConnectionLost,
  ): Promise<() => void> {
    const slots = this.slotsOf(connection);
    for (;;) {
      let pending = slots.byUser.get(userId);
      if (!pending) {
        const attempt = this.acquire(userId, slots, lost);
        pending = attempt;
        slots.byUser.set(userId, attempt);
        attempt.catch(() => {
          if (slots.byUser.get(userId) === attempt) slots.byUser.delete(userId);
        });
      }
      const held = await pending;
      // Closed meanwhile: its close gave the slot back, and the handshake fails on its own.
      if (slots.closed) return () => {};
      if (this.holds(held)) {
        held.refs++;
        let done = false;
        return () => {
          if (done) return;
          done = true;
          held.refs--;
          if (held.refs === 0) this.giveBack(held);
        };
      }
      if (held.taken) throw new WsTicketError(WsTicketErrorCode.CONNECTION_LIMIT);
      // Let go of while this handshake waited for it: take a new one.
    }
  }

  /**
   * The user's live slots in the store (every instance's).
   * @throws WsTicketError `store_unavailable`
   */
  count(userId: string): Promise<number> {
    return this.tickets.countConnections(userId);
  }

  /**
   * Closes this process's connections of the user among `ids` (evicted by another instance's
   * handshake, as that instance reports through a Socket.IO adapter that spans instances).
   */
  evicted(userId: string, ids: readonly string[]): void {
    const mine = this.held.get(userId);
    if (!mine) return;
    for (const id of ids) {
      const held = mine.get(id);
      if (held) this.lose(held);
    }
  }

  /**
   * Gives back every slot this process holds and stops renewing (at shutdown, while the store is
   * still open: the connections are about to close, and their own closes may come after it).
   * Resolves once the store answered or timed out.
   */
  async releaseAll(): Promise<void> {
    const all = [...this.held.values()].flatMap((mine) => [...mine.values()]);
    for (const held of all) this.drop(held);
    this.stop();
    await Promise.all(
      all.map((held) => this.tickets.releaseConnection(held.userId, held.id).catch(() => {})),
    );
  }

  /** Stops renewing: the slots run out within the lease if not released. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private slotsOf(connection: WsTicketConnection): ConnectionSlots {
    let slots = this.connections.get(connection);
    if (!slots) {
      const created: ConnectionSlots = { byUser: new Map(), closed: false };
      slots = created;
      this.connections.set(connection, created);
      connection.once('close', () => {
        created.closed = true;
        for (const pending of created.byUser.values()) {
          pending.then(
            (held) => this.giveBack(held),
            () => {},
          );
        }
      });
    }
    return slots;
  }

  private async acquire(
    userId: string,
    slots: ConnectionSlots,
    lost: WsTicketConnectionLost,
  ): Promise<Held> {
    const { max, lease, evictOldest } = this.options;
    const id = `${this.instance}.${(this.sequence++).toString(36)}`;
    const held: Held = { userId, id, lost, slots, refs: 0, taken: false };
    // A failed or timed-out acquisition gives back whatever it may still take (the store's job).
    const slot = await this.tickets.acquireConnection(userId, id, max, lease, evictOldest);
    if (slot.evicted.length > 0) {
      const mine = this.held.get(userId);
      const others = slot.evicted.filter((evicted) => !mine?.has(evicted));
      this.evicted(userId, slot.evicted);
      if (others.length > 0) this.announce(userId, others);
    }
    if (!slot.acquired) throw new WsTicketError(WsTicketErrorCode.CONNECTION_LIMIT);
    if (slots.closed) {
      this.forget(held);
      return held;
    }
    let mine = this.held.get(userId);
    if (!mine) {
      mine = new Map();
      this.held.set(userId, mine);
    }
    mine.set(id, held);
    this.startRenewing();
    return held;
  }

  /**
   * Gives a slot back to the store: its connection closed, or every hold on it let go (then a
   * re-entry on the connection takes a new one). False when it was not held any more.
   */
  private giveBack(held: Held): boolean {
    if (!this.drop(held)) return false;
    held.slots.byUser.delete(held.userId);
    this.forget(held);
    return true;
  }

  private holds(held: Held): boolean {
    return this.held.get(held.userId)?.get(held.id) === held;
  }

  /**
   * The slot was taken away: given back (its eviction mark goes with it; the close that follows
   * finds nothing more to give), and the connection closed. One that stays open for another
   * user's namespaces needs a new slot to let this user in again.
   */
  private lose(held: Held): void {
    if (!this.giveBack(held)) return;
    held.taken = true;
    held.lost(WsTicketErrorCode.CONNECTION_LIMIT);
  }

  /** Removes a slot from this process's; false when it was not there any more. */
  private drop(held: Held): boolean {
    const mine = this.held.get(held.userId);
    if (!mine?.delete(held.id)) return false;
    if (mine.size === 0) this.held.delete(held.userId);
    if (this.held.size === 0) this.stop();
    return true;
  }

  /** Tells the store to forget a slot; a failure is logged by the store, and the lease ends it. */
  private forget(held: Held): void {
    this.tickets.releaseConnection(held.userId, held.id).catch(() => {});
  }

  private startRenewing(): void {
    this.timer ??= setInterval(() => void this.renewAll(), this.options.lease / 3).unref();
  }

  private async renewAll(): Promise<void> {
    if (this.renewing) return;
    this.renewing = true;
    try {
      const users = [...this.held.keys()];
      for (let start = 0; start < users.length; start += RENEWAL_CONCURRENCY) {
        await Promise.all(
          users.slice(start, start + RENEWAL_CONCURRENCY).map((userId) => this.renew(userId)),
        );
      }
    } finally {
      this.renewing = false;
    }
  }

  private async renew(userId: string): Promise<void> {
    const mine = this.held.get(userId);
    if (!mine) return;
    const sent = [...mine.values()];
    let lost: string[];
    try {
      lost = await this.tickets.renewConnections(
        userId,
        sent.map((held) => held.id),
        this.options.max,
        this.options.lease,
      );
    } catch {
      // Logged by the store; the next renewal tries again, a slot that ran out meanwhile is taken
      // again if there is room.
      return;
    }
    const gone = new Set(lost);
    for (const held of sent) {
      if (gone.has(held.id)) this.lose(held);
      // Closed while the renewal was on its way, which may have taken its slot again.
      else if (!this.holds(held)) this.forget(held);
    }
  }
}

/** What `WsTicketService.connectionCount()` rejects with when `maxConnectionsPerUser` is off. */
export function notCounted(): Error {
  return new Error(
    'WsTicketService.connectionCount(): connections are not counted with ' +
      '`maxConnectionsPerUser: false`; set a cap to count them.',
  );
}
