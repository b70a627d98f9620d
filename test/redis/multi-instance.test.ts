import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type RedisServerHandle,
  redisSkipReason,
  startRedisServer,
} from '../support/redis-server.js';
import { ask } from '../support/sockets.js';
import type { WhoAmI } from './fixtures/chat.gateway.js';
import { connectChat, issueTicket, issuing, requestTicketAs } from './support/http.js';
import { type Instance, startInstance } from './support/instances.js';
import { eventually, redisPid } from './support/redis-tools.js';

const skip = redisSkipReason();

/** Two app processes on one Redis, as behind a load balancer. */
describe('two instances on one Redis', { skip, timeout: 90_000 }, () => {
  let redis: RedisServerHandle;
  let a: Instance;
  let b: Instance;
  before(async () => {
    redis = await startRedisServer();
    const env = { REDIS_URL: redis.url, STORE_TIMEOUT: '500' };
    [a, b] = await Promise.all([startInstance(env), startInstance(env)]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  it('accepts on B a ticket issued on A, then refuses it on A with ticket_invalid', async () => {
    const uuid = await issueTicket(a.url, 'alice');
    const onB = await connectChat(b.url, uuid);
    assert.ok(onB.ok);
    assert.deepEqual(await ask<WhoAmI>(onB.socket, 'whoami'), { sub: 'alice', pid: b.pid });
    onB.socket.close();
    const onA = await connectChat(a.url, uuid);
    assert.equal(!onA.ok && onA.code, 'ticket_invalid');
  });

  it('accepts exactly one of 50 parallel connects with one ticket spread over A and B', async () => {
    const uuid = await issueTicket(a.url);
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, (_, i) => connectChat(i % 2 ? a.url : b.url, uuid)),
    );
    for (const outcome of outcomes) if (outcome.ok) outcome.socket.close();
    assert.equal(outcomes.filter((outcome) => outcome.ok).length, 1);
    assert.deepEqual(
      new Set(outcomes.filter((o) => !o.ok).map((o) => !o.ok && o.code)),
      new Set(['ticket_invalid']),
    );
  });

  it('answers 503 / store_unavailable on both while Redis is paused, and honours older tickets after', async () => {
    const pid = await redisPid(redis.url);
    const before = await issueTicket(a.url, 'bob');
    process.kill(pid, 'SIGSTOP');
    try {
      for (const instance of [a, b]) {
        const response = await requestTicketAs(instance.url);
        assert.equal(response.status, 503);
        assert.equal(((await response.json()) as { code: string }).code, 'store_unavailable');
      }
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await eventually(() => issuing(b.url), 'B to answer again');
    const onB = await connectChat(b.url, before);
    assert.ok(onB.ok);
    assert.equal((await ask<WhoAmI>(onB.socket, 'whoami')).sub, 'bob');
    onB.socket.close();
  });

  it('answers 503 / store_unavailable on both with Redis stopped, both staying up, and recovers when it restarts', async () => {
    await redis.stop();
    try {
      for (const instance of [a, b]) {
        const response = await requestTicketAs(instance.url);
        assert.equal(response.status, 503);
        assert.equal(((await response.json()) as { code: string }).code, 'store_unavailable');
        const refused = await connectChat(instance.url, '6f1c1e52-8a4e-4d7e-9c1b-0a2b3c4d5e6f');
        assert.equal(!refused.ok && refused.code, 'store_unavailable');
        // Alive and serving: a request that needs no Redis still gets its answer.
        assert.ok(instance.alive());
        const unauthenticated = await fetch(`${instance.url}/auth/ws-ticket`, { method: 'POST' });
        assert.equal(unauthenticated.status, 401);
      }
    } finally {
      await redis.start();
    }
    await eventually(async () => (await issuing(a.url)) && (await issuing(b.url)), 'recovery');
    const uuid = await issueTicket(b.url, 'carol');
    const onA = await connectChat(a.url, uuid);
    assert.ok(onA.ok);
    assert.equal((await ask<WhoAmI>(onA.socket, 'whoami')).sub, 'carol');
    onA.socket.close();
  });

  it('logged that outage once per instance, its recovery once, and never a ticket or a token', () => {
    for (const instance of [a, b]) {
      const output = instance.output();
      assert.equal(output.match(/Redis ticket store unavailable/g)?.length, 1, output);
      assert.equal(output.match(/Redis ticket store available again/g)?.length, 1, output);
      assert.doesNotMatch(output, /[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-/);
      assert.doesNotMatch(output, /eyJ/);
    }
  });

  it('exits by itself once the app is closed: the store closed its Redis connection', async () => {
    const extra = await startInstance({ REDIS_URL: redis.url });
    try {
      await issueTicket(extra.url);
      extra.close();
      await Promise.race([
        extra.exited(),
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error('the instance kept running')), 10_000).unref(),
        ),
      ]);
      assert.equal(extra.child.exitCode, 0);
    } finally {
      await extra.stop();
    }
  });
});
