import { MemoryTicketStore } from './memory-ticket.store.js';
import { type RedisTicketClient, RedisTicketStore } from './redis-ticket.store.js';
import type { TicketStore } from './ticket-store.js';

/**
 * The part of a cache-manager `Cache` (what `@nestjs/cache-manager` provides as `CACHE_MANAGER`)
 * that {@link ticketStoreFromCache} reads: its Keyv stores and their adapters. Declared here so that
 * neither `cache-manager` nor `keyv` is needed by apps that do not use them.
 */
export interface TicketStoreCache {
  /** The cache's Keyv instances, first tier first; `store` is each one's adapter. */
  readonly stores?: ReadonlyArray<{ readonly store?: unknown } | undefined>;
}

/** The members of the cache's node-redis client read here, beyond {@link RedisTicketClient}. */
interface CacheRedisClient extends RedisTicketClient {
  /** From `connect()` until `close()`/`destroy()`, reconnections included. */
  readonly isOpen: boolean;
  /** node-redis ≥ 5 (not clusters): how many times the client became ready. */
  readonly socketEpoch?: number;
}

/** What `@keyv/redis`'s `KeyvRedis` offers; matched by shape so that the core never imports it. */
interface KeyvRedisLike {
  readonly client: CacheRedisClient;
  getClient(): Promise<RedisTicketClient>;
}

function isKeyvRedis(adapter: unknown): adapter is KeyvRedisLike {
  return (
    typeof adapter === 'object' &&
    adapter !== null &&
    typeof (adapter as Partial<KeyvRedisLike>).getClient === 'function' &&
    'client' in adapter
  );
}

function isInMemory(adapter: unknown): boolean {
  if (adapter instanceof Map) return true;
  return /memory/i.test(nameOf(adapter));
}

function nameOf(adapter: unknown): string {
  const name = (adapter as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return typeof name === 'string' && name !== '' ? name : typeof adapter;
}

/**
 * Chooses the ticket store for an app's `CACHE_MANAGER`.
 *
 * cache-manager has no atomic get-and-delete (and `del()` always resolves `true`), so the store is
 * built on the cache's Keyv adapters instead of the cache API:
 * - a `@keyv/redis` store (the first one, wherever it sits: Nest's docs put an in-memory tier in
 *   front of it) → {@link RedisTicketStore} on the same client (`GETDEL`), shared across instances.
 *   The cache owns that client: the ticket store neither connects its own nor closes it, and
 *   never reopens it once the cache closed it (see `cacheClient`);
 * - only in-memory adapters (or no cache) → {@link MemoryTicketStore}: a process-local cache gains
 *   nothing from being shared, and the memory store expires tickets actively;
 * - anything else → an error at startup, because silently falling back to a non-atomic or a
 *   process-local store would break single use or multi-instance setups.
 */
export function ticketStoreFromCache(cache: TicketStoreCache | undefined): TicketStore {
  const adapters: unknown[] = (cache?.stores ?? []).map((keyv) => keyv?.store);
  const redis = adapters.find(isKeyvRedis);
  if (redis) return new RedisTicketStore({ client: cacheClient(redis) });
  const other = adapters.find((adapter) => adapter !== undefined && !isInMemory(adapter));
  if (other === undefined) return new MemoryTicketStore();
  throw new Error(
    `WsTicketModule: the cache store "${nameOf(other)}" offers no atomic get-and-delete, so ` +
      'tickets could be used more than once. Pass `store` (for example a RedisTicketStore) in the ' +
      'module options.',
  );
}

/**
 * The cache's own client, for the store of one app. Until the client was first open, the store
 * connects it lazily, as the cache itself does (`getClient()`). Once it has been open, a closed
 * client means the cache closed it (`@nestjs/cache-manager` does in `onModuleDestroy`, while HTTP
 * still takes requests): operations then fail (`store_unavailable`) instead of reopening a
 * connection nobody would close again, which would keep the process alive after `app.close()`.
 */
function cacheClient(adapter: KeyvRedisLike): () => Promise<RedisTicketClient> {
  const first = adapter.client;
  // node-redis counts the client's connections: more than now means it was open since, even if
  // only the cache used it.
  const epoch = first.socketEpoch;
  let opened = first.isOpen;
  return async () => {
    const client = adapter.client;
    if (client.isOpen) {
      opened = true;
      return client;
    }
    if (client === first && epoch !== undefined && (client.socketEpoch ?? epoch) > epoch) {
      opened = true;
    }
    if (opened) throw new Error('The cache closed its Redis client');
    const connected = await adapter.getClient();
    opened = adapter.client.isOpen;
    return connected;
  };
}
