// Two sample processes on one real redis-server, behind an imaginary load balancer, for both
// transports: order shares live in Redis, room messages cross processes, and an unshare on one
// process takes the user out of the room on the other. Waits are bounds, never measurements.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { OrderSharesUnavailableError } from '../../sample/orders/order-shares.js';
import { RedisOrderShares } from '../../sample/redis/redis-order-shares.js';
import {
  type RedisServerHandle,
  redisSkipReason,
  startRedisServer,
} from '../support/redis-server.js';
import { login, type SampleProcess, startSample } from '../support/sample-process.js';
import { changeShare, type RoomClient, SAMPLE_TRANSPORTS } from '../support/sample-rooms.js';
import { withDeadline } from '../support/stop-child.js';
import { eventually, inspector, redisPid } from './support/redis-tools.js';

const skip = redisSkipReason();

/** A Redis call of the sample that does not answer must fail after its timeout: this is the bound. */
const HANG_BOUND = 5000;

for (const transport of SAMPLE_TRANSPORTS) {
  describe(`Two sample processes on one Redis share rooms (${transport.name})`, {
    skip,
    timeout: 120_000,
  }, () => {
    let redis: RedisServerHandle;
    let a: SampleProcess;
    let b: SampleProcess;
    const tokens: Record<string, string> = {};
    const clients: RoomClient[] = [];

    /** A chat socket of `user` on `instance`, already in `rooms`. */
    const inRooms = async (instance: SampleProcess, user: string, ...rooms: string[]) => {
      const client = await transport.open(instance.url, tokens[user]);
      clients.push(client);
      for (const room of rooms) assert.deepEqual(await client.join(room), { ok: true, room });
      return client;
    };
    const texts = (client: RoomClient, room: string) =>
      client.messages.filter((message) => message.room === room).map((message) => message.text);
    /** Sends a lobby marker from `from` and waits until each of `to` has it (see sample-rooms). */
    const settle = async (from: RoomClient, ...to: RoomClient[]) => {
      const marker = `marker ${randomUUID()}`;
      from.say('lobby', marker);
      for (const client of to) {
        await client.until(() => texts(client, 'lobby').includes(marker), `the marker ${marker}`);
      }
    };
    /** The ids of the users order `id` is shared with, read from Redis by the test itself. */
    const sharesInRedis = async (id: string) => {
      const client = await inspector(redis.url);
      try {
        return (await client.sMembers(`sample:order:${id}:shares`)).sort();
      } finally {
        client.destroy();
      }
    };

    before(async () => {
      redis = await startRedisServer();
      const env = { REDIS_URL: redis.url, JWT_TTL: '600', WS_TICKET_TTL: '60' };
      [a, b] = await Promise.all([
        startSample(env, transport.entry),
        startSample(env, transport.entry),
      ]);
      for (const user of ['alice', 'bob']) tokens[user] = await login(a.url, user);
    });
    afterEach(async () => {
      await Promise.all(clients.splice(0).map((client) => client.close()));
      await changeShare(a.url, tokens.alice, '1', 'unshare', 'bob');
    });
    after(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      await redis?.stop();
    });

    it('keeps a share made on A in Redis, so that B admits bob to order:1', async () => {
      const bobOnB = await inRooms(b, 'bob');
      assert.equal((await bobOnB.join('order:1')).code, 'room_forbidden');
      await changeShare(a.url, tokens.alice, '1', 'share', 'bob');
      assert.deepEqual(await sharesInRedis('1'), ['2']);
      assert.deepEqual(await bobOnB.join('order:1'), { ok: true, room: 'order:1' });
    });

    it('delivers a room message sent on A to the members on A and on B, and to no one else', async () => {
      await changeShare(b.url, tokens.alice, '1', 'share', 'bob');
      const aliceOnA = await inRooms(a, 'alice', 'order:1', 'lobby');
      const bobOnB = await inRooms(b, 'bob', 'order:1', 'lobby');
      const bobOnA = await inRooms(a, 'bob', 'lobby');

      aliceOnA.say('order:1', 'Sent on A.');
      await settle(aliceOnA, aliceOnA, bobOnB, bobOnA);
      const expected = [{ room: 'order:1', from: 'alice', text: 'Sent on A.' }];
      assert.deepEqual(
        aliceOnA.messages.filter((m) => m.room === 'order:1'),
        expected,
      );
      assert.deepEqual(
        bobOnB.messages.filter((m) => m.room === 'order:1'),
        expected,
      );
      assert.deepEqual(texts(bobOnA, 'order:1'), []);
    });

    it('takes bob out of order:1 on B when alice unshares on A, with ws-ticket:left room_revoked', async () => {
      await changeShare(a.url, tokens.alice, '1', 'share', 'bob');
      const aliceOnA = await inRooms(a, 'alice', 'order:1', 'lobby');
      const bobOnB = await inRooms(b, 'bob', 'order:1', 'lobby');

      await changeShare(a.url, tokens.alice, '1', 'unshare', 'bob');
      await bobOnB.until(() => bobOnB.lefts.length > 0, 'ws-ticket:left on B');
      assert.deepEqual(bobOnB.lefts, [{ room: 'order:1', code: 'room_revoked' }]);
      assert.deepEqual(await sharesInRedis('1'), []);

      aliceOnA.say('order:1', 'After the unshare.');
      await settle(aliceOnA, aliceOnA, bobOnB);
      assert.deepEqual(texts(aliceOnA, 'order:1'), ['After the unshare.']);
      assert.deepEqual(texts(bobOnB, 'order:1'), []);
      assert.equal((await bobOnB.join('order:1')).code, 'room_forbidden');
    });

    it('refuses bob a shared order with room_forbidden while Redis does not answer (fail closed), and still admits alice to her own', async () => {
      await changeShare(a.url, tokens.alice, '1', 'share', 'bob');
      const bobOnB = await inRooms(b, 'bob');
      const aliceOnB = await inRooms(b, 'alice');
      const pid = await redisPid(redis.url);
      process.kill(pid, 'SIGSTOP');
      try {
        // The rule's share lookup fails after the shares' 2 s timeout, within the module's 5 s.
        assert.deepEqual(await bobOnB.join('order:1'), {
          ok: false,
          room: 'order:1',
          code: 'room_forbidden',
        });
        // The owner's answer needs no share.
        assert.deepEqual(await aliceOnB.join('order:1'), { ok: true, room: 'order:1' });
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      await eventually(
        async () => (await bobOnB.join('order:1')).ok,
        'bob to be admitted again once Redis answers',
      );
    });

    it('logged no ticket, no token and no unhandled error', () => {
      for (const instance of [a, b]) {
        const output = instance.output();
        assert.doesNotMatch(output, /[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-/);
        assert.doesNotMatch(output, /eyJ/);
        assert.doesNotMatch(output, /ExceptionsHandler|Unhandled|Internal server error/i);
      }
    });
  });
}

describe("The sample's Redis order shares, on a Redis that stops answering", {
  skip,
  timeout: 30_000,
}, () => {
  let redis: RedisServerHandle;
  before(async () => {
    redis = await startRedisServer();
  });
  after(() => redis?.stop());

  it('fail within their timeout with OrderSharesUnavailableError (503) instead of hanging a join or a request', async () => {
    const shares = new RedisOrderShares({ url: redis.url, timeout: 300 });
    try {
      // It connects in the background and fails fast until then.
      await eventually(
        () =>
          shares.add('1', '2').then(
            () => true,
            () => false,
          ),
        'the shares to connect',
      );
      assert.equal(await shares.has('1', '2'), true);
      const pid = await redisPid(redis.url);
      process.kill(pid, 'SIGSTOP');
      try {
        for (const call of [
          (): Promise<unknown> => shares.has('1', '2'),
          (): Promise<unknown> => shares.remove('1', '2'),
        ]) {
          await assert.rejects(
            withDeadline(call(), HANG_BOUND, 'a call to a paused Redis'),
            (error: unknown) =>
              error instanceof OrderSharesUnavailableError && error.getStatus() === 503,
          );
        }
      } finally {
        process.kill(pid, 'SIGCONT');
      }
    } finally {
      shares.onApplicationShutdown();
    }
  });
});
