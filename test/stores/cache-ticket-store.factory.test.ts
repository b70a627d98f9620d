import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import KeyvRedis, { createKeyv } from '@keyv/redis';
import { createCache } from 'cache-manager';
import { Keyv } from 'keyv';
import { createClient } from 'redis';
import { MemoryTicketStore, RedisTicketStore, ticketStoreFromCache } from '../../lib/index.js';
import {
  connectionsReceived,
  startMonitor,
  withRedisServer,
} from '../redis/support/redis-tools.js';
import { type RedisServerHandle, redisSkipReason } from '../support/redis-server.js';

/** A Keyv adapter of an unknown kind (say, SQL): no atomic get-and-delete. */
class SqlStore {
  async get(): Promise<undefined> {
    return undefined;
  }
  async set(): Promise<boolean> {
    return true;
  }
  async delete(): Promise<boolean> {
    return true;
  }
  async clear(): Promise<void> {}
}

/** A process-local adapter named like one. */
class TinyMemoryStore extends SqlStore {}

// Nothing connects until a command is sent: these only check which store is chosen.
const UNUSED_URL = 'redis://127.0.0.1:1';

describe('ticketStoreFromCache: which store', () => {
  it('is a memory store without a cache', () => {
    assert.ok(ticketStoreFromCache(undefined) instanceof MemoryTicketStore);
  });

  it("is a memory store for cache-manager's default in-memory Keyv", () => {
    assert.ok(ticketStoreFromCache(createCache()) instanceof MemoryTicketStore);
  });

  it('is a memory store for a Map or an adapter named like a memory store', () => {
    const cache = createCache({
      stores: [new Keyv({ store: new Map() }), new Keyv({ store: new TinyMemoryStore() })],
    });
    assert.ok(ticketStoreFromCache(cache) instanceof MemoryTicketStore);
  });

  it('is a Redis store for new Keyv({ store: new KeyvRedis(url) })', () => {
    const cache = createCache({ stores: [new Keyv({ store: new KeyvRedis(UNUSED_URL) })] });
    assert.ok(ticketStoreFromCache(cache) instanceof RedisTicketStore);
  });

  it("is a Redis store for @keyv/redis's createKeyv(url)", () => {
    const cache = createCache({ stores: [createKeyv(UNUSED_URL)] });
    assert.ok(ticketStoreFromCache(cache) instanceof RedisTicketStore);
  });

  it('is a Redis store when an in-memory tier sits in front of Redis (the Nest docs layout)', () => {
    const cache = createCache({
      stores: [new Keyv({ store: new Map() }), createKeyv(UNUSED_URL)],
    });
    assert.ok(ticketStoreFromCache(cache) instanceof RedisTicketStore);
  });

  it('refuses, at startup, a cache store with no atomic get-and-delete, naming it', () => {
    const cache = createCache({ stores: [new Keyv({ store: new SqlStore() })] });
    assert.throws(() => ticketStoreFromCache(cache), /"SqlStore".*Pass `store`/s);
  });
});

describe('ticketStoreFromCache: on a real Redis', { skip: redisSkipReason() }, () => {
  let redis: RedisServerHandle;
  let inspect: ReturnType<typeof createClient>;
  withRedisServer((server, client) => {
    redis = server;
    inspect = client;
  });

  it("shares the cache's own connection and takes with one GETDEL", async () => {
    const keyv = new Keyv({ store: new KeyvRedis(redis.url) });
    const cache = createCache({ stores: [keyv] });
    const store = ticketStoreFromCache(cache);
    const monitor = await startMonitor(redis.port);
    try {
      const key = `ws-ticket:${randomUUID()}`;
      await store.put(key, 'value', 5000);
      assert.equal(await inspect.get(key), 'value');
      assert.equal(await store.take(key), 'value');
      assert.equal(await store.take(key), undefined);
      await monitor.sync();
      assert.deepEqual(
        monitor.commands.filter((command) => command.includes(key)),
        [
          ['SET', key, 'value', 'PX', '5000'],
          ['GET', key],
          ['GETDEL', key],
          ['GETDEL', key],
        ],
      );
      const names = (await inspect.clientList()).map((client) => client.name);
      assert.ok(!names.includes('ws-ticket'), 'no connection of its own');
    } finally {
      monitor.close();
      await cache.disconnect();
    }
  });

  it('leaves the connection to the cache: closing the ticket store does not close it', async () => {
    const adapter = new KeyvRedis(redis.url);
    const cache = createCache({ stores: [new Keyv({ store: adapter })] });
    const store = ticketStoreFromCache(cache) as RedisTicketStore;
    try {
      await store.put(`ws-ticket:${randomUUID()}`, 'v', 1000);
      await store.onApplicationShutdown();
      assert.equal(adapter.client.isOpen, true);
    } finally {
      await cache.disconnect();
    }
  });

  it('fails once the cache closed its client, and never reopens it', async () => {
    const adapter = new KeyvRedis(redis.url);
    const cache = createCache({ stores: [new Keyv({ store: adapter })] });
    const store = ticketStoreFromCache(cache);
    try {
      await store.put(`ws-ticket:${randomUUID()}`, 'v', 1000);
      const received = await connectionsReceived(inspect);
      await cache.disconnect();
      await assert.rejects(
        store.take(`ws-ticket:${randomUUID()}`),
        /cache closed its Redis client/,
      );
      await assert.rejects(store.put(`ws-ticket:${randomUUID()}`, 'v', 1000), /closed/);
      assert.equal(adapter.client.isOpen, false);
      assert.equal(await connectionsReceived(inspect), received);
    } finally {
      // Were it reopened, the test must still end.
      await cache.disconnect();
    }
  });

  it('fails once the cache opened and closed its client, even if the store never used it', async () => {
    const adapter = new KeyvRedis(redis.url);
    const cache = createCache({ stores: [new Keyv({ store: adapter })] });
    const store = ticketStoreFromCache(cache);
    try {
      await cache.set('greeting', 'hello');
      await cache.disconnect();
      await assert.rejects(
        store.take(`ws-ticket:${randomUUID()}`),
        /cache closed its Redis client/,
      );
      assert.equal(adapter.client.isOpen, false);
    } finally {
      await cache.disconnect();
    }
  });

  it("connects the client again for the next app's store, as the cache itself would", async () => {
    // One KeyvRedis in a module declared once, and an app built from it per test.
    const adapter = new KeyvRedis(redis.url);
    const cache = createCache({ stores: [new Keyv({ store: adapter })] });
    try {
      await ticketStoreFromCache(cache).put(`ws-ticket:${randomUUID()}`, 'first app', 1000);
      await cache.disconnect();
      const key = `ws-ticket:${randomUUID()}`;
      const next = ticketStoreFromCache(cache);
      await next.put(key, 'next app', 1000);
      assert.equal(await next.take(key), 'next app');
    } finally {
      await cache.disconnect();
    }
  });

  it('keeps tickets through cache.clear() when the cache has a namespace (and only then)', async () => {
    for (const namespace of ['cache', undefined]) {
      const cache = createCache({
        stores: [new Keyv({ store: new KeyvRedis(redis.url), namespace })],
      });
      const store = ticketStoreFromCache(cache);
      try {
        const key = `ws-ticket:${randomUUID()}`;
        await store.put(key, 'value', 5000);
        await cache.clear();
        assert.equal(
          await store.take(key),
          namespace ? 'value' : undefined,
          `namespace ${namespace}`,
        );
      } finally {
        await cache.disconnect();
      }
    }
  });
});
