import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import KeyvRedis from '@keyv/redis';
import { CacheModule } from '@nestjs/cache-manager';
import type { ModuleMetadata } from '@nestjs/common';
import { Keyv } from 'keyv';
import { createClient } from 'redis';
import {
  RedisTicketStore,
  TicketStore,
  WsTicketModule,
  type WsTicketModuleOptions,
} from '../../lib/index.js';
import { type StartedApp, startApp } from '../support/app.js';
import { TEST_SECRET } from '../support/jwt.js';
import { freePort, type RedisServerHandle, redisSkipReason } from '../support/redis-server.js';
import { ask } from '../support/sockets.js';
import { RedisChatGateway, type WhoAmI } from './fixtures/chat.gateway.js';
import { connectChat, issueTicket, issuing, requestTicketAs } from './support/http.js';
import {
  CapturingLogger,
  eventually,
  redisPid,
  startMonitor,
  ticketKey,
  withRedisServer,
} from './support/redis-tools.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

const skip = redisSkipReason();
type Inspector = ReturnType<typeof createClient>;

/** One way an app can put its tickets in Redis. */
interface Setup {
  name: string;
  /** Module imports for an app on `url`, and what to release after the app closed. */
  create(url: string): Promise<{ imports: ModuleMetadata['imports']; release?: () => void }>;
}

const jwt = { secret: TEST_SECRET };
const tickets = (extra: Partial<WsTicketModuleOptions> = {}) =>
  WsTicketModule.forRoot({ jwt, storeTimeout: 500, ...extra });

const SETUPS: Setup[] = [
  {
    name: 'CacheModule.register({ isGlobal, stores: [new KeyvRedis(url)] })',
    create: async (url) => ({
      imports: [CacheModule.register({ isGlobal: true, stores: [new KeyvRedis(url)] }), tickets()],
    }),
  },
  {
    name: 'CacheModule.register({ isGlobal, stores: [new Keyv({ store: new KeyvRedis(url) })] })',
    create: async (url) => ({
      imports: [
        CacheModule.register({
          isGlobal: true,
          stores: [new Keyv({ store: new KeyvRedis(url) })],
        }),
        tickets(),
      ],
    }),
  },
  {
    name: 'store: new RedisTicketStore({ url })',
    create: async (url) => ({ imports: [tickets({ store: new RedisTicketStore({ url }) })] }),
  },
  {
    name: "store: new RedisTicketStore({ client }) on the app's own node-redis client",
    create: async (url) => {
      const client = createClient({ url });
      client.on('error', () => {});
      await client.connect();
      return {
        imports: [tickets({ store: new RedisTicketStore({ client }) })],
        release: () => client.destroy(),
      };
    },
  },
];

async function startOn(setup: Setup, url: string): Promise<StartedApp> {
  const { imports, release } = await setup.create(url);
  const started = await startApp({ imports, providers: [RedisChatGateway] });
  return {
    ...started,
    close: async () => {
      await started.close();
      release?.();
    },
  };
}

/** Every key in Redis, and every string it holds (values and set members). */
async function keyspace(redis: Inspector): Promise<{ keys: string[]; contents: string[] }> {
  const keys = await redis.keys('*');
  const contents: string[] = [];
  for (const key of keys) {
    const type = await redis.type(key);
    if (type === 'string') contents.push((await redis.get(key)) ?? '');
    if (type === 'set') contents.push(...(await redis.sMembers(key)));
  }
  return { keys, contents };
}

describe('Redis ticket store, end to end', { skip, timeout: 60_000 }, () => {
  let redis: RedisServerHandle;
  let inspect: Inspector;
  withRedisServer((server, client) => {
    redis = server;
    inspect = client;
  });

  for (const setup of SETUPS) {
    describe(setup.name, () => {
      let app: StartedApp;
      before(async () => {
        app = await startOn(setup, redis.url);
      });
      after(() => app?.close());

      it('uses a RedisTicketStore', () => {
        assert.ok(app.app.get(TicketStore, { strict: false }) instanceof RedisTicketStore);
      });

      it('stores a ticket under ws-ticket:<SHA-256 hex>, and the ticket itself nowhere', async () => {
        const uuid = await issueTicket(app.url);
        const { keys, contents } = await keyspace(inspect);
        assert.ok(keys.includes(ticketKey(uuid)));
        assert.match(ticketKey(uuid), /^ws-ticket:[0-9a-f]{64}$/);
        assert.ok(keys.every((key) => key.startsWith('ws-ticket:')));
        assert.ok(!keys.some((key) => key.includes(uuid)), 'a key holds the ticket');
        assert.ok(!contents.some((value) => value.includes(uuid)), 'a value holds the ticket');
      });

      it('consumes a ticket with exactly one GETDEL and nothing else on its key', async () => {
        const monitor = await startMonitor(redis.port);
        try {
          const uuid = await issueTicket(app.url);
          await monitor.sync();
          const issued = monitor.commands.length;
          const outcome = await connectChat(app.url, uuid);
          assert.ok(outcome.ok);
          outcome.socket.close();
          await monitor.sync();
          const key = ticketKey(uuid);
          const onKey = monitor.commands.slice(issued).filter((command) => command.includes(key));
          assert.deepEqual(onKey, [['GETDEL', key]]);
          assert.ok(!monitor.commands.flat().some((arg) => arg.includes(uuid)));
        } finally {
          monitor.close();
        }
      });

      it('accepts a ticket once, then refuses it with ticket_invalid', async () => {
        const uuid = await issueTicket(app.url, 'alice');
        const first = await connectChat(app.url, uuid);
        assert.ok(first.ok);
        assert.equal((await ask<WhoAmI>(first.socket, 'whoami')).sub, 'alice');
        first.socket.close();
        const replay = await connectChat(app.url, uuid);
        assert.equal(replay.ok, false);
        assert.equal(!replay.ok && replay.code, 'ticket_invalid');
      });

      it('accepts exactly one of 50 parallel connects with one ticket', async () => {
        const uuid = await issueTicket(app.url);
        const outcomes = await Promise.all(
          Array.from({ length: 50 }, () => connectChat(app.url, uuid)),
        );
        const accepted = outcomes.filter((outcome) => outcome.ok);
        for (const outcome of outcomes) if (outcome.ok) outcome.socket.close();
        assert.equal(accepted.length, 1);
        assert.deepEqual(
          new Set(outcomes.filter((o) => !o.ok).map((o) => !o.ok && o.code)),
          new Set(['ticket_invalid']),
        );
      });
    });
  }

  describe('connections', () => {
    it('closes the connection it opened (url) when the app closes', async () => {
      const app = await startOn(SETUPS[2], redis.url);
      const names = async () => (await inspect.clientList()).map((client) => client.name);
      try {
        assert.ok((await names()).includes('ws-ticket'));
      } finally {
        await app.close();
      }
      await eventually(
        async () => !(await names()).includes('ws-ticket'),
        'the connection to close',
      );
    });

    it('leaves a client handed in open when the app closes', async () => {
      const client = createClient({ url: redis.url });
      client.on('error', () => {});
      await client.connect();
      try {
        const app = await startApp({
          imports: [tickets({ store: new RedisTicketStore({ client }) })],
        });
        await app.close();
        assert.equal(await client.ping(), 'PONG');
      } finally {
        client.destroy();
      }
    });
  });

  // Outages through a cut TCP relay: Redis itself keeps running, and keeps its data.
  for (const setup of [SETUPS[0], SETUPS[2], SETUPS[3]]) {
    describe(`while Redis is unreachable: ${setup.name}`, () => {
      let proxy: TcpProxy;
      let app: StartedApp;
      before(async () => {
        proxy = await startTcpProxy(redis.port);
        app = await startOn(setup, proxy.url);
      });
      afterEach(async () => {
        proxy.restore();
        await eventually(() => issuing(app.url), 'the endpoint to recover');
      });
      after(async () => {
        await app?.close();
        await proxy?.close();
      });

      it('answers 503 store_unavailable with Retry-After and no stack trace, then 201 once it is back', async () => {
        await proxy.cut();
        const response = await requestTicketAs(app.url);
        assert.equal(response.status, 503);
        assert.equal(response.headers.get('retry-after'), '1');
        const body = (await response.json()) as Record<string, unknown>;
        assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode']);
        assert.equal(body.code, 'store_unavailable');
        // Neither a stack frame nor the store's own error leaks to the client.
        assert.doesNotMatch(JSON.stringify(body), /\\n|\bat \S+ \(|ECONN|not connected|offline/i);
        proxy.restore();
        await eventually(() => issuing(app.url), 'a ticket after the outage');
      });

      it('refuses handshakes with store_unavailable, then accepts them once it is back', async () => {
        const uuid = await issueTicket(app.url);
        await proxy.cut();
        const refused = await connectChat(app.url, uuid);
        assert.equal(!refused.ok && refused.code, 'store_unavailable');
        proxy.restore();
        await eventually(() => issuing(app.url), 'the store to recover');
        const fresh = await connectChat(app.url, await issueTicket(app.url));
        assert.ok(fresh.ok);
        fresh.socket.close();
      });

      it('accepts, after the outage, a ticket issued before it (even one tried during it)', async () => {
        const uuid = await issueTicket(app.url, 'bob');
        await proxy.cut();
        const during = await connectChat(app.url, uuid);
        assert.equal(!during.ok && during.code, 'store_unavailable');
        proxy.restore();
        await eventually(() => issuing(app.url), 'the store to recover');
        const after = await connectChat(app.url, uuid);
        assert.ok(after.ok);
        assert.equal((await ask<WhoAmI>(after.socket, 'whoami')).sub, 'bob');
        after.socket.close();
      });

      it('keeps serving what does not need Redis', async () => {
        await proxy.cut();
        const response = await fetch(`${app.url}/auth/ws-ticket`, { method: 'POST' });
        assert.equal(response.status, 401);
        const malformed = await connectChat(app.url, 'not-a-ticket');
        assert.equal(!malformed.ok && malformed.code, 'ticket_malformed');
      });
    });
  }

  describe('while Redis is unreachable: logging', () => {
    let proxy: TcpProxy;
    before(async () => {
      proxy = await startTcpProxy(redis.port);
    });
    after(() => proxy?.close());

    it('logs the outage once and the recovery once, and never a ticket or a token', async () => {
      const app = await startOn(SETUPS[2], proxy.url);
      const logs = new CapturingLogger().install();
      try {
        const uuid = await issueTicket(app.url);
        await proxy.cut();
        const attempts = proxy.attempts;
        for (let i = 0; i < 3; i++) await requestTicketAs(app.url);
        await connectChat(app.url, uuid);
        await eventually(() => proxy.attempts >= attempts + 3, 'reconnection attempts');
        proxy.restore();
        await eventually(() => issuing(app.url), 'the store to recover');
        assert.equal(logs.count(/Redis ticket store unavailable/), 1);
        assert.equal(logs.count(/Redis ticket store available again/), 1);
        assert.ok(!logs.lines.some((line) => line.includes(uuid)));
        assert.ok(!logs.lines.some((line) => /eyJ/.test(line)), 'a JWT in the logs');
      } finally {
        proxy.restore();
        await app.close();
      }
    });
  });

  // A Redis that accepts connections but answers nothing (SIGSTOP): bounded by storeTimeout.
  describe('while Redis hangs', () => {
    let pid: number;
    before(async () => {
      pid = await redisPid(redis.url);
    });
    afterEach(() => {
      process.kill(pid, 'SIGCONT');
    });

    for (const setup of [SETUPS[0], SETUPS[2]]) {
      it(`answers 503 and refuses handshakes within storeTimeout, then recovers with its tickets: ${setup.name}`, async () => {
        const app = await startOn(setup, redis.url);
        try {
          const before = await issueTicket(app.url, 'carol');
          process.kill(pid, 'SIGSTOP');
          const response = await requestTicketAs(app.url);
          assert.equal(response.status, 503);
          assert.equal(((await response.json()) as { code: string }).code, 'store_unavailable');
          const fresh = '6f1c1e52-8a4e-4d7e-9c1b-0a2b3c4d5e6f';
          const refused = await connectChat(app.url, fresh);
          assert.equal(!refused.ok && refused.code, 'store_unavailable');
          process.kill(pid, 'SIGCONT');
          await eventually(() => issuing(app.url), 'the store to answer again');
          const after = await connectChat(app.url, before);
          assert.ok(after.ok);
          assert.equal((await ask<WhoAmI>(after.socket, 'whoami')).sub, 'carol');
          after.socket.close();
        } finally {
          process.kill(pid, 'SIGCONT');
          await app.close();
        }
      });
    }
  });
});

// Regression: node-redis throws "The client is closed" when destroying a client whose connect()
// failed; the subscriber of a client handed in without reconnection ends up so, and the store's
// shutdown threw.
describe('Redis ticket store on a client handed in that never connects (reconnectStrategy false)', () => {
  it('shuts down without throwing after a subscription whose connection failed', async () => {
    const client = createClient({
      url: `redis://127.0.0.1:${await freePort()}`,
      socket: { reconnectStrategy: false },
    });
    client.on('error', () => {});
    const store = new RedisTicketStore({ client });
    // One Redis: the subscription queues until its connection is up; here that connection fails
    // and the subscription is refused with node-redis' own error.
    await assert.rejects(
      store.subscribe('ws-ticket:instances', () => {}),
      /ECONNREFUSED/,
    );
    await store.onApplicationShutdown();
  });
});
