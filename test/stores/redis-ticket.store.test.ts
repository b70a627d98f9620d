import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it, mock } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { RedisTicketStore } from '../../lib/index.js';
import {
  CapturingLogger,
  eventually,
  startMonitor,
  withRedisServer,
} from '../redis/support/redis-tools.js';
import { startTcpProxy, type TcpProxy } from '../redis/support/tcp-proxy.js';
import { type RedisServerHandle, redisSkipReason } from '../support/redis-server.js';
import { connectionSlotsContract } from './connection-slots.contract.js';
import { ticketStoreContract } from './ticket-store.contract.js';

const skip = redisSkipReason();
const key = () => `ws-ticket:unit-${randomUUID()}`;

/** Whether an operation resolves (rather than rejects). */
const succeeds = (operation: Promise<unknown>) =>
  operation.then(
    () => true,
    () => false,
  );

/** Names of the connections Redis currently holds. */
async function clientNames(redis: ReturnType<typeof createClient>): Promise<string[]> {
  const list = await redis.clientList();
  return list.map((client) => client.name);
}

describe('RedisTicketStore', { skip }, () => {
  let redis: RedisServerHandle;
  let inspect: ReturnType<typeof createClient>;
  withRedisServer((server, client) => {
    redis = server;
    inspect = client;
  });

  describe('the TicketStore contract, on a client handed in', () => {
    let client: ReturnType<typeof createClient>;
    let store: RedisTicketStore;
    before(async () => {
      client = createClient({ url: redis.url });
      client.on('error', () => {});
      await client.connect();
      store = new RedisTicketStore({ client });
    });
    after(() => client.destroy());
    ticketStoreContract(() => store);
  });

  describe('the TicketStore contract, on its own connection from a URL', () => {
    let store: RedisTicketStore;
    before(async () => {
      store = new RedisTicketStore({ url: redis.url });
      await store.onModuleInit();
    });
    after(() => store.onApplicationShutdown());
    ticketStoreContract(() => store);
  });

  describe('the connection-slot contract, on a client handed in', () => {
    let client: ReturnType<typeof createClient>;
    let store: RedisTicketStore;
    before(async () => {
      client = createClient({ url: redis.url });
      client.on('error', () => {});
      await client.connect();
      store = new RedisTicketStore({ client });
    });
    after(() => client.destroy());
    connectionSlotsContract(() => store);

    it('leaves no key behind once the last lease has ended', async () => {
      const k = key();
      await store.acquireConnection(k, 'a', 1, 300, false);
      await store.acquireConnection(k, 'b', 1, 300, true);
      const pttl = await inspect.pTTL(k);
      assert.ok(pttl > 0 && pttl <= 300, `PTTL ${pttl}`);
      await sleep(400);
      assert.equal(await inspect.exists(k), 0);
    });

    it('keeps the key as long as its longest lease, whatever the last call asked', async () => {
      const k = key();
      await store.acquireConnection(k, 'a', 2, 5000, false);
      await store.acquireConnection(k, 'b', 2, 300, false);
      assert.ok((await inspect.pTTL(k)) > 4000);
      await store.renewConnections(k, ['b'], 2, 300);
      assert.ok((await inspect.pTTL(k)) > 4000);
      await store.releaseConnection(k, 'a');
      await sleep(400);
      assert.equal(await store.countConnections(k), 0);
    });

    it('keeps time by Redis, whatever the instance clock says', async () => {
      mock.timers.enable({ apis: ['Date'], now: 0 });
      try {
        const k = key();
        await store.acquireConnection(k, 'a', 1, 5000, false);
        assert.equal((await store.acquireConnection(k, 'b', 1, 5000, false)).acquired, false);
        assert.equal(await store.countConnections(k), 1);
      } finally {
        mock.timers.reset();
      }
    });

    it('runs each operation as one script on the one key, by its SHA-1 once Redis knows it', async () => {
      const operations = async (k: string) => {
        await store.acquireConnection(k, 'a', 1, 5000, true);
        await store.renewConnections(k, ['a', 'b'], 1, 5000);
        await store.renewConnections(k, [], 1, 5000);
        await store.countConnections(k);
        await store.releaseConnection(k, 'a');
      };
      const admin = createClient({ url: redis.url });
      await admin.connect();
      await admin.sendCommand(['SCRIPT', 'FLUSH']);
      admin.destroy();
      // Unknown scripts: EVALSHA, NOSCRIPT, then EVAL, which loads them.
      const first = await startMonitor(redis.port);
      try {
        const k = key();
        await operations(k);
        await first.sync();
        const sent = first.commands.filter(([name]) => name === 'EVAL' || name === 'EVALSHA');
        assert.deepEqual(
          sent.map(([name, , keys, on]) => [name, keys, on]),
          Array.from({ length: 4 }, () => [
            ['EVALSHA', '1', k],
            ['EVAL', '1', k],
          ]).flat(),
        );
      } finally {
        first.close();
      }
      // Known: one EVALSHA each (the commands a script runs show up too, under other names).
      const monitor = await startMonitor(redis.port);
      try {
        const k = key();
        await operations(k);
        await monitor.sync();
        const sent = monitor.commands.filter(([name]) => name === 'EVAL' || name === 'EVALSHA');
        assert.deepEqual(
          sent.map(([name, , keys, on]) => [name, keys, on]),
          Array.from({ length: 4 }, () => ['EVALSHA', '1', k]),
        );
      } finally {
        monitor.close();
      }
    });

    it('fails on a reply it does not expect rather than guessing', async () => {
      const odd = new RedisTicketStore({ client: { eval: async () => 'OK' } as never });
      await assert.rejects(odd.acquireConnection(key(), 'a', 1, 1000, false), /Unexpected reply/);
      await assert.rejects(odd.renewConnections(key(), ['a'], 1, 1000), /Unexpected reply/);
      await assert.rejects(odd.releaseConnection(key(), 'a'), /Unexpected reply/);
      await assert.rejects(odd.countConnections(key()), /Unexpected reply/);
    });
  });

  describe('commands', () => {
    let store: RedisTicketStore;
    before(async () => {
      store = new RedisTicketStore({ url: redis.url });
      await store.onModuleInit();
    });
    after(() => store.onApplicationShutdown());

    it('puts with one SET … PX and takes with one GETDEL, nothing else on the key', async () => {
      const monitor = await startMonitor(redis.port);
      try {
        const k = key();
        await store.put(k, 'value', 1500);
        await store.take(k);
        await monitor.sync();
        const onKey = monitor.commands.filter((command) => command.includes(k));
        assert.deepEqual(onKey, [
          ['SET', k, 'value', 'PX', '1500'],
          ['GETDEL', k],
        ]);
      } finally {
        monitor.close();
      }
    });

    it('stores tickets with a millisecond expiry rounded up', async () => {
      const k = key();
      await store.put(k, 'value', 1234.2);
      const pttl = await inspect.pTTL(k);
      assert.ok(pttl > 0 && pttl <= 1235, `PTTL ${pttl}`);
    });
  });

  describe('options', () => {
    it('requires exactly one of client and url', () => {
      assert.throws(
        () => new RedisTicketStore({} as never),
        /exactly one of `client`, `url` or `cluster`/,
      );
      assert.throws(
        () => new RedisTicketStore({ url: redis.url, client: createClient() } as never),
        /exactly one of `client`, `url` or `cluster`/,
      );
    });

    it('refuses a URL that is not redis:// or rediss:// without repeating it', () => {
      const url = 'http://user:hunter2@example.test/';
      assert.throws(
        () => new RedisTicketStore({ url }),
        (error: Error) =>
          /redis:\/\/ or rediss:\/\//.test(error.message) && !/hunter2/.test(error.message),
      );
    });
  });

  describe('its own connection (url)', () => {
    it('opens one connection named ws-ticket at module init and closes it on shutdown', async () => {
      const store = new RedisTicketStore({ url: redis.url });
      await store.onModuleInit();
      try {
        assert.equal((await clientNames(inspect)).filter((n) => n === 'ws-ticket').length, 1);
      } finally {
        await store.onApplicationShutdown();
      }
      await eventually(
        async () => !(await clientNames(inspect)).includes('ws-ticket'),
        'the store connection to close',
      );
    });

    it('refuses operations after it is closed', async () => {
      const store = new RedisTicketStore({ url: redis.url });
      await store.onModuleInit();
      await store.close();
      await store.close();
      await assert.rejects(store.take(key()), /closed/);
    });

    it('keeps its connection while another app uses it, and closes it with the last one', async () => {
      const store = new RedisTicketStore({ url: redis.url });
      const own = async () => (await clientNames(inspect)).filter((n) => n === 'ws-ticket').length;
      await store.onModuleInit();
      await store.onModuleInit();
      try {
        await store.onApplicationShutdown();
        const k = key();
        await store.put(k, 'still', 10_000);
        assert.equal(await store.take(k), 'still');
        assert.equal(await own(), 1);
      } finally {
        await store.onApplicationShutdown();
      }
      await eventually(async () => (await own()) === 0, 'the store connection to close');
      await assert.rejects(store.take(key()), /closed/);
    });

    it('opens a new connection for an app that starts after the last one shut down', async () => {
      const store = new RedisTicketStore({ url: redis.url });
      await store.onModuleInit();
      await store.onApplicationShutdown();
      await store.onModuleInit();
      try {
        const k = key();
        await store.put(k, 'again', 10_000);
        assert.equal(await store.take(k), 'again');
        assert.ok((await clientNames(inspect)).includes('ws-ticket'));
      } finally {
        await store.onApplicationShutdown();
      }
    });

    it('leaves no connection behind when the app shuts down while it opens', async () => {
      const store = new RedisTicketStore({ url: redis.url });
      const own = async () => (await clientNames(inspect)).filter((n) => n === 'ws-ticket').length;
      const opening = store.onModuleInit();
      await store.onApplicationShutdown();
      await assert.rejects(opening, /closed/);
      await store.onModuleInit();
      try {
        const k = key();
        await store.put(k, 'next', 10_000);
        assert.equal(await store.take(k), 'next');
        assert.equal(await own(), 1);
      } finally {
        await store.onApplicationShutdown();
      }
      await eventually(async () => (await own()) === 0, 'the store connection to close');
    });

    it('closes at once on an explicit close(), whatever apps still use it', async () => {
      const store = new RedisTicketStore({ url: redis.url });
      await store.onModuleInit();
      await store.onModuleInit();
      await store.close();
      await assert.rejects(store.take(key()), /closed/);
      await eventually(
        async () => !(await clientNames(inspect)).includes('ws-ticket'),
        'the store connection to close',
      );
    });

    it('connects lazily on first use when not started by Nest', async () => {
      const store = new RedisTicketStore({ url: redis.url });
      try {
        const k = key();
        await store.put(k, 'lazy', 10_000);
        assert.equal(await store.take(k), 'lazy');
      } finally {
        await store.close();
      }
    });
  });

  describe('a client handed in, across apps', () => {
    it('serves the next app after one shut down, and leaves the client open', async () => {
      const client = createClient({ url: redis.url });
      client.on('error', () => {});
      await client.connect();
      try {
        const store = new RedisTicketStore({ client });
        for (const round of ['first', 'second']) {
          await store.onModuleInit();
          const k = key();
          await store.put(k, round, 10_000);
          assert.equal(await store.take(k), round);
          await store.onApplicationShutdown();
          await assert.rejects(store.take(key()), /closed/);
          assert.equal(await client.ping(), 'PONG');
        }
      } finally {
        client.destroy();
      }
    });
  });

  describe('outages', () => {
    let proxy: TcpProxy;
    const logs = new CapturingLogger();
    before(async () => {
      proxy = await startTcpProxy(redis.port);
      logs.install();
    });
    after(() => proxy?.close());

    it('fails at once while its own connection is down, logs the outage once, and recovers', async () => {
      const store = new RedisTicketStore({ url: proxy.url });
      await store.onModuleInit();
      try {
        const before = key();
        await store.put(before, 'kept', 30_000);
        await proxy.cut();
        await assert.rejects(store.take(before));
        await assert.rejects(store.put(key(), 'v', 1000));
        // Let the client retry several times: each retry emits 'error'.
        const attempts = proxy.attempts;
        await eventually(() => proxy.attempts >= attempts + 3, 'reconnection attempts');
        await assert.rejects(store.take(before));
        proxy.restore();
        await eventually(() => succeeds(store.put(key(), 'v', 1000)), 'the store to recover');
        assert.equal(await store.take(before), 'kept');
        assert.equal(logs.count(/Redis ticket store unavailable/), 1);
        assert.equal(logs.count(/Redis ticket store available again/), 1);
      } finally {
        await store.close();
      }
    });

    it('does not let a client handed in queue a GETDEL that would burn the ticket after an outage', async () => {
      // The app's own client, with node-redis defaults: offline queue on.
      const client = createClient({ url: proxy.url });
      client.on('error', () => {});
      await client.connect();
      const store = new RedisTicketStore({ client });
      try {
        const ticket = key();
        await store.put(ticket, 'kept', 30_000);
        await proxy.cut();
        await eventually(() => client.isReady === false, 'the client to notice');
        await assert.rejects(store.take(ticket), /not connected/);
        proxy.restore();
        await eventually(() => client.isReady, 'the client to reconnect');
        assert.equal(await store.take(ticket), 'kept');
      } finally {
        client.destroy();
      }
    });

    it('starts while Redis is unreachable and works once it is reachable', async () => {
      await proxy.cut();
      const store = new RedisTicketStore({ url: proxy.url });
      try {
        await store.onModuleInit();
        await assert.rejects(store.put(key(), 'v', 1000));
        proxy.restore();
        await eventually(() => succeeds(store.put(key(), 'v', 1000)), 'the store to connect');
      } finally {
        proxy.restore();
        await store.close();
      }
    });
  });
});
