import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { WebSocket } from 'ws';
import { signJwt } from '../support/jwt.js';
import {
  type RedisServerHandle,
  redisSkipReason,
  startRedisServer,
} from '../support/redis-server.js';
import { ask, closure, openWs } from '../ws/fixtures/ws-app.js';
import type { WhoAmI } from './fixtures/chat.gateway.js';
import { HANG_BOUND, issueTicket } from './support/http.js';
import { type Instance, startInstance } from './support/instances.js';
import { eventually, inspector } from './support/redis-tools.js';

const skip = redisSkipReason();
const CHANNEL = 'ws-ticket:instances';

/** `disconnectUser()` on an instance, through the fixture's route. */
async function disconnectOn(
  instance: Instance,
  userId: string,
  code?: string,
): Promise<{ status: number; body: unknown }> {
  const query = code === undefined ? '' : `?code=${encodeURIComponent(code)}`;
  const response = await fetch(`${instance.url}/connections/${userId}/disconnect${query}`, {
    method: 'POST',
    signal: AbortSignal.timeout(HANG_BOUND),
  });
  return { status: response.status, body: await response.json() };
}

/** Two raw WebSocket instances (`WsTicketWsAdapter`) on one Redis, as behind a load balancer. */
describe('raw WebSocket on two instances: disconnectUser reaches every instance', {
  skip,
  timeout: 90_000,
}, () => {
  let redis: RedisServerHandle;
  let a: Instance;
  let b: Instance;
  const open: WebSocket[] = [];

  /** Opens `/ws` on an instance as `sub`, with a ticket issued on the other one. */
  async function socket(on: Instance, issuer: Instance, sub: string): Promise<WebSocket> {
    const uuid = await issueTicket(issuer.url, sub);
    const outcome = await openWs(`${on.url.replace(/^http/, 'ws')}/ws?uuid=${uuid}`);
    if (!outcome.ok) throw new Error(`upgrade refused: ${outcome.status} ${outcome.code}`);
    open.push(outcome.ws);
    return outcome.ws;
  }

  before(async () => {
    redis = await startRedisServer();
    const env = {
      REDIS_URL: redis.url,
      STORE_TIMEOUT: '500',
      TRANSPORT: 'ws',
      ISSUE_LIMIT: '0',
    } as const;
    [a, b] = await Promise.all([startInstance(env), startInstance(env)]);
  });
  afterEach(() => {
    for (const ws of open.splice(0)) ws.terminate();
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  it('subscribes each instance once to the channel between instances', async () => {
    const inspect = await inspector(redis.url);
    try {
      assert.equal((await inspect.pubSubNumSub(CHANNEL))[CHANNEL], 2);
    } finally {
      inspect.destroy();
    }
  });

  it("closes bob's sockets on B with 4003 user_revoked when A disconnects him, and leaves carol's", async () => {
    const [onA, onB, alsoOnB, carol] = await Promise.all([
      socket(a, b, 'bob'),
      socket(b, a, 'bob'),
      socket(b, b, 'bob'),
      socket(b, a, 'carol'),
    ]);
    const closed = [onA, onB, alsoOnB].map(closure);
    // A answers how many of bob's connections it closed itself.
    assert.deepEqual(await disconnectOn(a, 'bob'), { status: 200, body: { closed: 1 } });
    for (const ws of closed) assert.deepEqual(await ws, { code: 4003, reason: 'user_revoked' });
    assert.deepEqual(await ask<WhoAmI>(carol, 'whoami'), { sub: 'carol', pid: b.pid });
  });

  it('closes with the code given to disconnectUser: 4001 session_expired on B', async () => {
    const onB = await socket(b, a, 'dan');
    const closed = closure(onB);
    assert.equal((await disconnectOn(a, 'dan', 'session_expired')).status, 200);
    assert.deepEqual(await closed, { code: 4001, reason: 'session_expired' });
  });

  it('refuses on B, after A disconnected erin, a ticket issued before (ticket_invalid) and takes a new one', async () => {
    const before = await issueTicket(a.url, 'erin');
    await disconnectOn(a, 'erin');
    const refused = await openWs(`${b.url.replace(/^http/, 'ws')}/ws?uuid=${before}`);
    assert.equal(!refused.ok && refused.code, 'ticket_invalid');
    const fresh = await socket(b, a, 'erin');
    assert.deepEqual(await ask<WhoAmI>(fresh, 'whoami'), { sub: 'erin', pid: b.pid });
  });

  it('ignores malformed and foreign messages on the channel (one warning, never their content) and keeps working', async () => {
    const frank = await socket(b, a, 'frank');
    const inspect = await inspector(redis.url);
    try {
      const foreign = [
        'not json',
        'SECRET-PAYLOAD-1',
        JSON.stringify({ v: 1, from: 'x', op: 'disconnect', user: 'frank', code: 'DROP TABLE' }),
        JSON.stringify({ v: 2, from: 'x', op: 'disconnect', user: 'frank', code: 'user_revoked' }),
        JSON.stringify({ v: 1, from: 'x', op: 'disconnect', user: '', code: 'user_revoked' }),
        JSON.stringify({ v: 1, from: 'x', op: 'evict', user: 'frank', ids: 'all' }),
        JSON.stringify({
          v: 1,
          from: 'x',
          op: 'evict',
          user: 'frank',
          ids: new Array(5000).fill('i'),
        }),
        JSON.stringify({ v: 1, from: 'x', op: 'shutdown', user: 'frank' }),
        'x'.repeat(200_000),
        JSON.stringify(null),
        '[]',
      ];
      for (const message of foreign) await inspect.publish(CHANNEL, message);
      // Then a genuine one, which must still work: every earlier message was handled before it.
      const ginny = await socket(b, a, 'ginny');
      const closed = closure(ginny);
      await disconnectOn(a, 'ginny');
      assert.deepEqual(await closed, { code: 4003, reason: 'user_revoked' });
    } finally {
      inspect.destroy();
    }
    assert.deepEqual(await ask<WhoAmI>(frank, 'whoami'), { sub: 'frank', pid: b.pid });
    for (const instance of [a, b]) assert.equal(instance.alive(), true);
    const warnings = b.output().match(/Ignored a malformed message/g) ?? [];
    assert.equal(warnings.length, 1);
    assert.doesNotMatch(b.output(), /SECRET-PAYLOAD|DROP TABLE|xxxxxxxx/);
  });

  it('closes its own sockets and answers store_unavailable while Redis is down, and crosses again once Redis is back', async () => {
    const onA = await socket(a, b, 'hana');
    const closedOnA = closure(onA);
    await redis.stop();
    try {
      const answer = await disconnectOn(a, 'hana');
      assert.notEqual(answer.status, 200);
      assert.deepEqual(await closedOnA, { code: 4003, reason: 'user_revoked' });
    } finally {
      await redis.start();
    }
    // B's subscriber subscribes again by itself once Redis answers.
    const inspect = await inspector(redis.url);
    try {
      await eventually(
        async () => (await inspect.pubSubNumSub(CHANNEL))[CHANNEL] === 2,
        'both instances to subscribe again',
        15_000,
      );
    } finally {
      inspect.destroy();
    }
    // Each instance's store connection reconnects on its own back-off, apart from its subscriber
    // (CI, stop 29: B's subscriber was back while B's store still answered store_unavailable).
    await eventually(async () => {
      try {
        await Promise.all([issueTicket(a.url, 'probe'), issueTicket(b.url, 'probe')]);
        return true;
      } catch {
        return false;
      }
    }, 'A and B to issue tickets again');
    const onB = await socket(b, a, 'ivan');
    const closed = closure(onB);
    assert.equal((await disconnectOn(a, 'ivan')).status, 200);
    assert.deepEqual(await closed, { code: 4003, reason: 'user_revoked' });
  });

  it('logged no ticket and no token', () => {
    const token = signJwt({ sub: 'bob' }).split('.')[0];
    for (const instance of [a, b]) {
      assert.doesNotMatch(instance.output(), /[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-/);
      assert.ok(!instance.output().includes(token));
    }
  });
});
