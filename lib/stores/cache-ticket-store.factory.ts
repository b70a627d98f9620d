import type { Cache } from 'cache-manager';
import { MemoryTicketStore } from './memory-ticket.store.js';
import { type RedisTicketClient, RedisTicketStore } from './redis-ticket.store.js';
import type { TicketStore } from './ticket-store.js';

interface KeyvRedisLike {
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
  const name = (adapter as { constructor?: { name?: string } } | undefined)?.constructor?.name;
  return typeof name === 'string' && /memory/i.test(name);
}

/**
 * Chooses the ticket store for an app's `CACHE_MANAGER`.
 *
 * cache-manager has no atomic get-and-delete (and `del()` always resolves `true`), so the store is
 * built on the cache's primary Keyv adapter instead of the cache API:
 * - `@keyv/redis` → {@link RedisTicketStore} on the same client (`GETDEL`), shared across instances;
 * - an in-memory adapter (or no cache) → {@link MemoryTicketStore}: a process-local cache gains
 *   nothing from being shared, and the memory store expires tickets actively;
 * - anything else → an error at startup, because silently falling back to a non-atomic or a
 *   process-local store would break single use or multi-instance setups.
 */
export function ticketStoreFromCache(cache: Cache | undefined): TicketStore {
  const adapter: unknown = cache?.stores?.[0]?.store;
  if (adapter === undefined || isInMemory(adapter)) return new MemoryTicketStore();
  if (isKeyvRedis(adapter)) return new RedisTicketStore({ client: () => adapter.getClient() });
  const name = (adapter as { constructor?: { name?: string } }).constructor?.name ?? typeof adapter;
  throw new Error(
    `WsTicketModule: the cache store "${name}" offers no atomic get-and-delete, so tickets could ` +
      'be used more than once. Pass `store` (for example a RedisTicketStore) in the module options.',
  );
}
