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
   * Stores `value` under `key` for `ttl` milliseconds.
   */
  abstract put(key: string, value: string, ttl: number): Promise<void>;

  /**
   * Atomically reads and deletes `key`. Resolves `undefined` when the key is unknown or expired.
   */
  abstract take(key: string): Promise<string | undefined>;
}
