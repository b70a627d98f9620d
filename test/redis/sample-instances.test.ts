import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import { createSampleApp } from '../../sample/bootstrap.js';
import { loadConfig, redactRedisUrl } from '../../sample/config.js';
import { RawEngineIo } from '../support/engine-io.js';
import {
  type RedisServerHandle,
  redisSkipReason,
  startRedisServer,
} from '../support/redis-server.js';
import { type SampleProcess, startSample } from '../support/sample-process.js';
import { ask, next } from '../support/sockets.js';
import { eventually, inspector, redisPid } from './support/redis-tools.js';
import {
  closure,
  connectTo,
  loginResponse,
  messageCrosses,
  openAs,
  postAs,
  SAMPLE_TICKET_PATH,
  sampleTicket,
  tokenFor,
} from './support/sample.js';

const skip = redisSkipReason();

describe('The sample reads REDIS_URL', () => {
  it('keeps user and password out of the URL it logs', () => {
    assert.equal(redactRedisUrl('redis://user:secret@cache:6380/2'), 'redis://cache:6380/2');
    assert.equal(redactRedisUrl('rediss://:secret@cache'), 'rediss://cache');
  });

  it('refuses a URL that is not redis:// or rediss://, without repeating it', () => {
    assert.throws(
      () => loadConfig({ JWT_SECRET: 'x', REDIS_URL: 'http://user:secret@cache' }),
      (error: Error) =>
        /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/.test(error.message) &&
        !error.message.includes('secret'),
    );
  });

  it('stays in memory when REDIS_URL is unset or empty', () => {
    assert.equal(loadConfig({ JWT_SECRET: 'x' }).redisUrl, undefined);
    assert.equal(loadConfig({ JWT_SECRET: 'x', REDIS_URL: '' }).redisUrl, undefined);
  });
});

/** Two sample processes (`npm run sample`) on one Redis, as behind a load balancer. */
describe('Two sample processes with REDIS_URL behave as one app', {
  skip,
  timeout: 120_000,
}, () => {
  let redis: RedisServerHandle;
  let a: SampleProcess;
  let b: SampleProcess;
  const open: Socket[] = [];
  /** Opens a namespace as `token`'s user; closed after the suite. */
  const socket = async (url: string, namespace: string, token: string) => {
    const opened = await openAs(url, namespace, token);
    open.push(opened);
    return opened;
  };

  before(async () => {
    redis = await startRedisServer();
    const env = { REDIS_URL: redis.url, JWT_TTL: '600', WS_TICKET_TTL: '60' };
    [a, b] = await Promise.all([startSample(env), startSample(env)]);
  });
  after(async () => {
    for (const s of open) s.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  it('logs at startup that it runs in Redis mode', () => {
    for (const instance of [a, b]) {
      assert.match(
        instance.output(),
        new RegExp(
          `Redis mode \\(redis://127\\.0\\.0\\.1:${redis.port}\\): tickets, user state and order shares are shared; Socket\\.IO broadcasts and kicks reach every process`,
        ),
      );
    }
  });

  it('accepts on B a ticket issued on A, once', async () => {
    const token = await tokenFor(a.url, 'alice');
    const uuid = await sampleTicket(a.url, token);
    const onB = await connectTo(b.url, '/chat', uuid);
    assert.ok(onB.ok);
    open.push(onB.socket);
    assert.deepEqual(await ask(onB.socket, 'whoami'), { id: '1', username: 'alice' });
    const again = await connectTo(a.url, '/chat', uuid);
    assert.equal(!again.ok && again.code, 'ticket_invalid');
  });

  it('delivers a /chat message sent on A to the clients on A and on B', async () => {
    const [aliceOnA, bobOnB] = await Promise.all([
      socket(a.url, '/chat', await tokenFor(a.url, 'alice')),
      socket(b.url, '/chat', await tokenFor(b.url, 'bob')),
    ]);
    const received = Promise.all([next(aliceOnA, 'message'), next(bobOnB, 'message')]);
    aliceOnA.emit('message', { text: 'hello from A' });
    assert.deepEqual(await received, [
      { from: 'alice', text: 'hello from A' },
      { from: 'alice', text: 'hello from A' },
    ]);
  });

  it("kicks alice's sockets on B, in every namespace, when she logs out everywhere on A, and leaves bob's", async () => {
    const alice = await tokenFor(b.url, 'alice');
    const bob = await tokenFor(b.url, 'bob');
    const aliceSockets = await Promise.all([
      socket(b.url, '/chat', alice),
      socket(b.url, '/notifications', alice),
      socket(a.url, '/chat', alice),
    ]);
    const bobOnB = await socket(b.url, '/chat', bob);
    const closed = Promise.all(aliceSockets.map(closure));

    const response = await postAs(a.url, '/api/auth/logout-all', alice);
    assert.equal(response.status, 204);

    for (const result of await closed) {
      assert.deepEqual(result, {
        events: ['unauthorized', 'disconnect'],
        code: 'user_revoked',
        reason: 'io server disconnect',
      });
    }
    // B handled the kick before alice saw it: had it reached bob, he would be gone by now.
    assert.ok(bobOnB.connected);
    assert.deepEqual(await ask(bobOnB, 'whoami'), { id: '2', username: 'bob' });
  });

  it('refuses on B, after a logout-all on A, the old token and the tickets issued before', async () => {
    const alice = await tokenFor(b.url, 'alice');
    const earlier = await sampleTicket(b.url, alice);
    assert.equal((await postAs(a.url, '/api/auth/logout-all', alice)).status, 204);

    assert.equal((await postAs(b.url, SAMPLE_TICKET_PATH, alice)).status, 401);
    const refused = await connectTo(b.url, '/chat', earlier);
    assert.equal(!refused.ok && refused.code, 'ticket_invalid');
  });

  it('closes on B a connection of alice that left every namespace, when she logs out everywhere on A', async () => {
    const alice = await tokenFor(b.url, 'alice');
    const raw = await RawEngineIo.idle(b.url, '/chat', await sampleTicket(b.url, alice));
    try {
      assert.equal((await postAs(a.url, '/api/auth/logout-all', alice)).status, 204);
      // Reached through the Socket.IO Redis adapter's serverSideEmit: B sweeps its own.
      await raw.whenClosed();
      assert.ok(raw.closed);
    } finally {
      raw.close();
    }
  });

  it('refuses on B, after carol is deactivated on A, new tickets (401) and an earlier one (deleted: ticket_invalid)', async () => {
    const carol = await tokenFor(b.url, 'carol');
    const earlier = await sampleTicket(b.url, carol);
    const carolOnB = await socket(b.url, '/chat', carol);
    const closed = closure(carolOnB);

    assert.equal((await postAs(a.url, '/api/account/deactivate', carol)).status, 204);

    assert.equal((await closed).code, 'user_revoked');
    const response = await postAs(b.url, SAMPLE_TICKET_PATH, carol);
    assert.equal(response.status, 401);
    assert.equal(((await response.json()) as { code: string }).code, 'user_rejected');
    // disconnectUser deleted the tickets issued before it.
    const refused = await connectTo(b.url, '/chat', earlier);
    assert.equal(!refused.ok && refused.code, 'ticket_invalid');
  });

  it('survives Redis dying with a broadcast in flight, and answers 503 until it is back', async () => {
    const bob = await tokenFor(a.url, 'bob');
    const bobOnA = await socket(a.url, '/chat', bob);
    const pid = await redisPid(redis.url);
    process.kill(pid, 'SIGSTOP');
    try {
      // A publishes the message to a Redis that does not answer: the command waits for a reply.
      const local = next(bobOnA, 'message');
      bobOnA.emit('message', { text: 'in flight' });
      assert.deepEqual(await local, { from: 'bob', text: 'in flight' });
    } finally {
      // Killing it resets the connection under that command.
      process.kill(pid, 'SIGKILL');
    }
    await eventually(
      () => /Redis connection "sample-io-pub" unavailable/.test(a.output()),
      'A to notice the outage',
    );

    for (const instance of [a, b]) {
      const ticket = await postAs(instance.url, SAMPLE_TICKET_PATH, bob);
      assert.equal(ticket.status, 503);
      assert.equal(((await ticket.json()) as { code: string }).code, 'store_unavailable');
      assert.equal((await loginResponse(instance.url, 'bob')).status, 503);
      const handshake = await connectTo(
        instance.url,
        '/chat',
        '6f1c1e52-8a4e-4d7e-9c1b-0a2b3c4d5e6f',
      );
      assert.equal(!handshake.ok && handshake.code, 'store_unavailable');
      assert.equal(instance.child.exitCode, null);
      assert.equal(instance.child.signalCode, null);
    }
  });

  it('recovers once Redis restarts: logins, tickets, and messages across instances', async () => {
    await redis.start();
    // Redis restarted empty (no persistence): sessions start again from version 0.
    const issuing = async (url: string) => {
      const login = await loginResponse(url, 'bob');
      if (login.status !== 200) return false;
      const { access_token } = (await login.json()) as { access_token: string };
      const ticket = await postAs(url, SAMPLE_TICKET_PATH, access_token);
      await ticket.body?.cancel();
      return ticket.status === 201;
    };
    await eventually(
      async () => (await issuing(a.url)) && (await issuing(b.url)),
      'A and B to log in and issue tickets again',
    );
    const bobOnA = await socket(a.url, '/chat', await tokenFor(a.url, 'bob'));
    const aliceOnB = await socket(b.url, '/chat', await tokenFor(b.url, 'alice'));
    await eventually(() => messageCrosses(bobOnA, aliceOnB), 'messages from A to reach B');
    await eventually(() => messageCrosses(aliceOnB, bobOnA), 'messages from B to reach A');
  });

  it('logged no ticket, no token, no credentials and no unhandled error', () => {
    for (const instance of [a, b]) {
      const output = instance.output();
      assert.doesNotMatch(output, /[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-/);
      assert.doesNotMatch(output, /eyJ/);
      assert.doesNotMatch(output, /ExceptionsHandler|Unhandled|Internal server error/i);
    }
  });
});

describe('The sample in Redis mode, closed', { skip, timeout: 30_000 }, () => {
  let redis: RedisServerHandle;
  before(async () => {
    redis = await startRedisServer();
  });
  after(() => redis?.stop());

  it('closes every Redis connection it opened', async () => {
    const config = loadConfig({ JWT_SECRET: 'sample-test-secret-0123456789abcdef', PORT: '0' });
    const app = await createSampleApp({ ...config, redisUrl: redis.url });
    await app.listen(0, '127.0.0.1');
    let closed = false;
    const client = await inspector(redis.url);
    try {
      const names = async () =>
        (await client.clientList())
          .map((entry) => entry.name)
          .filter((name) => name !== 'test-inspector')
          .sort();
      await eventually(async () => (await names()).length === 5, 'the sample to connect');
      assert.deepEqual(await names(), [
        'sample-io-pub',
        'sample-io-sub',
        'sample-order-shares',
        'sample-user-state',
        'ws-ticket',
      ]);
      await app.close();
      closed = true;
      await eventually(async () => (await names()).length === 0, 'the connections to close');
    } finally {
      if (!closed) await app.close();
      client.destroy();
    }
  });
});
