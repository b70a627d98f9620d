/** Result of {@link TicketStore.increment}. */
export interface TicketStoreCounter {
  /** The counter's value after this increment. */
  count: number;
  /** Milliseconds until the counter's window ends and it starts again from zero. */
  resetIn: number;
}

/** Result of {@link TicketStore.acquireConnection}. */
export interface TicketStoreConnectionSlot {
  /** Whether the connection holds a slot now. */
  acquired: boolean;
  /**
   * Ids taken out of the set to make room (`evictOldest`), oldest first: their holders close those
   * connections. Empty when nothing was evicted.
   */
  evicted: string[];
}

/** Receives the messages of a channel ({@link TicketStore.subscribe}). */
export type TicketStoreMessageListener = (message: string) => void;

/** Ends a subscription ({@link TicketStore.subscribe}); idempotent. */
export type TicketStoreUnsubscribe = () => Promise<void>;

/**
 * Where tickets live between issue and consumption. It is both the DI token and the type of the store.
 *
 * Keys arrive already prefixed and hashed; values are opaque strings. Implementations must make
 * `take()` **atomic single use**: when several callers take the same key concurrently, at most one of
 * them may receive the value. A get followed by a delete is not enough.
 * Errors (including timeouts) should be thrown; the service maps them to `store_unavailable`.
 */
export abstract class TicketStore {
  /**
   * Stores `value` under `key` for `ttl` milliseconds. `owner` (a prefixed, hashed user key) groups
   * the tickets of one user so that {@link revokeOwner} can delete them.
   */
  abstract put(key: string, value: string, ttl: number, owner?: string): Promise<void>;

  /**
   * Atomically reads and deletes `key`. Resolves `undefined` when the key is unknown or expired.
   */
  abstract take(key: string): Promise<string | undefined>;

  /**
   * Deletes every live ticket put with this `owner` and resolves how many there were.
   * Needed by `WsTicketService.revokeUserTickets()`.
   */
  revokeOwner(_owner: string): Promise<number> {
    return Promise.reject(new Error(`${this.constructor.name} does not support revokeOwner()`));
  }

  /**
   * Atomically adds one to the counter `key`, which lives `window` milliseconds from its first
   * increment. Needed by the per-user issuance limit (`issueLimit`).
   */
  increment(_key: string, _window: number): Promise<TicketStoreCounter> {
    return Promise.reject(new Error(`${this.constructor.name} does not support increment()`));
  }

  /**
   * Reads the revocation generation `key` (0 when it does not exist). With `ttl`, an existing
   * generation is also made to live at least `ttl` more milliseconds (when a ticket is issued);
   * without, it is a plain read (when a socket is admitted). A difference between the two means the
   * user was revoked in between, on any instance.
   */
  readGeneration(_key: string, _ttl?: number): Promise<number> {
    return Promise.reject(new Error(`${this.constructor.name} does not support readGeneration()`));
  }

  /**
   * Atomically adds one to the revocation generation `key` and makes it live at least `ttl` more
   * milliseconds. Resolves the new value.
   */
  bumpGeneration(_key: string, _ttl: number): Promise<number> {
    return Promise.reject(new Error(`${this.constructor.name} does not support bumpGeneration()`));
  }

  /**
   * Atomically gives the connection `id` a slot in the connection set `key` (one key per user)
   * unless the set already holds `limit` live connections. Then, without `evictOldest`, it is
   * refused (`acquired: false`, the set unchanged); with `evictOldest`, the oldest connections
   * (by their first acquisition, the store's clock) are taken out to make room, reported in
   * `evicted`, and remembered as evicted until their lease would have ended, so that their holders
   * learn it at their next {@link renewConnections} (an evicted `id` acquired again takes a new
   * slot, as the newest, and is not reported; refused, it stays evicted). A slot lives `lease`
   * milliseconds from its acquisition or last renewal: a crashed holder's slots are free again
   * within `lease`. The key lives no longer than its longest lease. Needed by
   * `maxConnectionsPerUser`.
   */
  acquireConnection(
    _key: string,
    _id: string,
    _limit: number,
    _lease: number,
    _evictOldest: boolean,
  ): Promise<TicketStoreConnectionSlot> {
    return Promise.reject(
      new Error(`${this.constructor.name} does not support acquireConnection()`),
    );
  }

  /**
   * Atomically extends the lease of each of `ids` in the set `key` to `lease` milliseconds from
   * now. An id whose slot ran out (its holder could not renew in time, during a store outage) takes
   * a slot again if the set has room below `limit`. Resolves the ids that lost their slot: evicted
   * by another connection's `evictOldest` (forgotten once reported), or run out with no room left.
   * Their holders close them.
   */
  renewConnections(
    _key: string,
    _ids: string[],
    _limit: number,
    _lease: number,
  ): Promise<string[]> {
    return Promise.reject(
      new Error(`${this.constructor.name} does not support renewConnections()`),
    );
  }

  /** Gives the slot of `id` in the set `key` back (and forgets it if it was evicted); idempotent. */
  releaseConnection(_key: string, _id: string): Promise<void> {
    return Promise.reject(
      new Error(`${this.constructor.name} does not support releaseConnection()`),
    );
  }

  /**
   * Undoes an acquisition of `id` whose answer never came (it timed out, and may still run): when
   * `id` holds a live slot, it goes, and one connection that this acquisition evicted and that has
   * not learned it yet (still marked) gets its slot back, so that a refused handshake displaces
   * no one and the set never holds more than before. Otherwise as {@link releaseConnection}, which
   * is what the default does (a store that implements only the four required methods).
   */
  cancelConnection(key: string, id: string): Promise<void> {
    return this.releaseConnection(key, id);
  }

  /** How many live slots the set `key` holds (evicted ones and run-out leases not counted). */
  countConnections(_key: string): Promise<number> {
    return Promise.reject(
      new Error(`${this.constructor.name} does not support countConnections()`),
    );
  }

  /**
   * Sends `message` to the listeners of `channel` on every instance that shares this store
   * (including this one's), at most once each, with no delivery guarantee for an instance that is
   * cut off from the store at that moment (Redis pub/sub). Optional: the module uses it to carry
   * `disconnectUser()` and `close-oldest` evictions to the raw WebSocket sockets of other
   * instances; a store without it (or a process-local one) leaves them to the process they are
   * called in. Resolves once the store took the message.
   */
  publish(_channel: string, _message: string): Promise<void> {
    return Promise.reject(new Error(`${this.constructor.name} does not support publish()`));
  }

  /**
   * Calls `listener` with every message {@link publish}ed on `channel` from now on, until the
   * returned function is called; the subscription survives reconnections of the store. Resolves
   * once the store confirmed it. Implement it together with {@link publish}.
   */
  subscribe(
    _channel: string,
    _listener: TicketStoreMessageListener,
  ): Promise<TicketStoreUnsubscribe> {
    return Promise.reject(new Error(`${this.constructor.name} does not support subscribe()`));
  }
}
