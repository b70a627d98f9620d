// Two `npm run sample` processes on a real Redis Cluster of three masters (REDIS_CLUSTER_NODES):
// tickets, user state and the sharded Socket.IO adapter on the cluster. Deadlines are bounds on
// "does not hang", never measurements.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import { SAMPLE_ISSUER } from '../../sample/config.js';
import { signJwt } from '../support/jwt.js';
import { SAMPLE_JWT_SECRET, type SampleProcess, startSample } from '../support/sample-process.js';
import { ask, next } from '../support/sockets.js';
import { withDeadline } from '../support/stop-child.js';
import { redisCommand } from './support/cluster-probe.js';
import {
  assertCleanOutput,
  clusterModeLine,
  clusterNodesEnv,
  INSTANCE_CHANNEL,
  shardChannels,
  shardSubscribers,
} from './support/cluster-sample.js';
import {
  clusterSkipReason,
  type RedisClusterHandle,
  startRedisCluster,
} from './support/redis-cluster.js';
import { ticketKey } from './support/redis-tools.js';
import {
  type Closure,
  closure,
  connectTo,
  openAs,
  postAs,
  SAMPLE_TICKET_PATH,
  sampleTicket,
  tokenFor,
} from './support/sample.js';

const skip = clusterSkipReason();

/** Handshakes racing for one ticket, spread over both processes. */
const RACE = 50;
/** How long a kick or an expiry may take to close a socket: a bound, not a measurement. */
const CLOSE_BOUND = 10_000;

/** The claims of a JWT (not verified: the test's own reading of a token the sample signed). */
function claimsOf(token: string): { sub: string; username: string; sv: number } {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

/** Resolves how the server ended the socket, failing past {@link CLOSE_BOUND}. */
function closed(socket: Socket, what: string): Promise<Closure> {
  return withDeadline(closure(socket), CLOSE_BOUND, what);
}

describe('Two sample processes with REDIS_CLUSTER_NODES (3 masters) behave as one app', {
  skip,
  timeout: 180_000,
}, () => {
  let cluster: RedisClusterHandle;
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
    cluster = await startRedisCluster({ masters: 3 });
    const env = {
      REDIS_CLUSTER_NODES: clusterNodesEnv(cluster.urls),
      JWT_TTL: '600',
      WS_TICKET_TTL: '60',
    };
    [a, b] = await Promise.all([startSample(env), startSample(env)]);
  });
  after(async () => {
    for (const s of open) s.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await cluster?.stop();
  });

  it('logs at startup that it runs in Redis Cluster mode, naming every node without credentials', () => {
    for (const instance of [a, b]) {
      assert.match(
        instance.output(),
        clusterModeLine(cluster.urls, 'Socket\\.IO broadcasts and kicks reach every process'),
      );
    }
  });

  it(`accepts a ticket issued on A exactly once among ${RACE} handshakes racing on A and B`, async () => {
    const uuid = await sampleTicket(a.url, await tokenFor(a.url, 'alice'));
    const outcomes = await Promise.all(
      Array.from({ length: RACE }, (_, i) => connectTo(i % 2 ? b.url : a.url, '/chat', uuid)),
    );
    const accepted = outcomes.flatMap((outcome) => (outcome.ok ? [outcome.socket] : []));
    open.push(...accepted);
    assert.equal(accepted.length, 1);
    assert.deepEqual(
      outcomes.flatMap((outcome) => (outcome.ok ? [] : [outcome.code])),
      Array(RACE - 1).fill('ticket_invalid'),
    );
    assert.deepEqual(await ask(accepted[0], 'whoami'), { id: '1', username: 'alice' });
  });

  it('stores the tickets of both processes on more than one master, each on the node serving its slot', async () => {
    const bob = await tokenFor(a.url, 'bob');
    const uuids: string[] = [];
    // 12 tickets all on one master of three: 3 × (1/3)^12, never.
    for (let i = 0; i < 12; i++) uuids.push(await sampleTicket(i % 2 ? b.url : a.url, bob));
    const owners = new Set<number>();
    for (const uuid of uuids) {
      const key = ticketKey(uuid);
      const owner = await cluster.masterOf(key);
      // A plain connection to that one node: it holds the key itself (no MOVED).
      assert.equal(await redisCommand(owner.port, ['EXISTS', key]), 1);
      owners.add(owner.port);
    }
    assert.ok(owners.size > 1, `all 12 tickets are on the master on port ${[...owners]}`);
  });

  it('delivers a /chat message sent on A to the clients on A and on B (sharded Socket.IO adapter)', async () => {
    const [aliceOnA, bobOnB] = await Promise.all([
      socket(a.url, '/chat', await tokenFor(a.url, 'alice')),
      socket(b.url, '/chat', await tokenFor(b.url, 'bob')),
    ]);
    const text = `hello from A ${randomUUID().slice(0, 8)}`;
    const received = Promise.all([next(aliceOnA, 'message'), next(bobOnB, 'message')]);
    aliceOnA.emit('message', { text });
    assert.deepEqual(await received, [
      { from: 'alice', text },
      { from: 'alice', text },
    ]);
  });

  it("kicks alice's sockets on B, in every namespace, when she logs out everywhere on A, and leaves bob's", async () => {
    const alice = await tokenFor(b.url, 'alice');
    const aliceSockets = await Promise.all([
      socket(b.url, '/chat', alice),
      socket(b.url, '/notifications', alice),
      socket(a.url, '/chat', alice),
    ]);
    const bobOnB = await socket(b.url, '/chat', await tokenFor(b.url, 'bob'));
    const ends = Promise.all(aliceSockets.map((s) => closed(s, "alice's socket to be closed")));

    assert.equal((await postAs(a.url, '/api/auth/logout-all', alice)).status, 204);

    for (const result of await ends) {
      assert.deepEqual(result, {
        events: ['unauthorized', 'disconnect'],
        code: 'user_revoked',
        reason: 'io server disconnect',
      });
    }
    assert.ok(bobOnB.connected);
    assert.deepEqual(await ask(bobOnB, 'whoami'), { id: '2', username: 'bob' });
  });

  it('refuses on B, after a logout-all on A, the old token (401) and a ticket issued before (ticket_invalid)', async () => {
    const alice = await tokenFor(b.url, 'alice');
    const earlier = await sampleTicket(b.url, alice);
    assert.equal((await postAs(a.url, '/api/auth/logout-all', alice)).status, 204);

    assert.equal((await postAs(b.url, SAMPLE_TICKET_PATH, alice)).status, 401);
    const refused = await connectTo(b.url, '/chat', earlier);
    assert.equal(!refused.ok && refused.code, 'ticket_invalid');
  });

  it('closes on B with session_expired a socket whose token ends, opened with a ticket of A', async () => {
    // A token of bob's current session (the sample's own claims and issuer) that ends in 3 s.
    const { sub, username, sv } = claimsOf(await tokenFor(a.url, 'bob'));
    const shortLived = signJwt(
      { sub, username, sv, iss: SAMPLE_ISSUER },
      { secret: SAMPLE_JWT_SECRET, expiresIn: 3 },
    );
    const outcome = await connectTo(b.url, '/chat', await sampleTicket(a.url, shortLived));
    assert.ok(outcome.ok, 'B refused the ticket');
    open.push(outcome.socket);
    assert.deepEqual(await ask(outcome.socket, 'whoami'), { id: '2', username: 'bob' });
    assert.deepEqual(await closed(outcome.socket, 'the session to end'), {
      events: ['unauthorized', 'disconnect'],
      code: 'session_expired',
      reason: 'io server disconnect',
    });
  });

  it('refuses on B, after carol is deactivated on A, new tickets (401 user_rejected) and an earlier one (ticket_invalid)', async () => {
    const carol = await tokenFor(b.url, 'carol');
    const earlier = await sampleTicket(b.url, carol);
    const carolOnB = await socket(b.url, '/chat', carol);
    const end = closed(carolOnB, "carol's socket to be closed");

    assert.equal((await postAs(a.url, '/api/account/deactivate', carol)).status, 204);

    assert.equal((await end).code, 'user_revoked');
    const response = await postAs(b.url, SAMPLE_TICKET_PATH, carol);
    assert.equal(response.status, 401);
    assert.equal(((await response.json()) as { code: string }).code, 'user_rejected');
    const refused = await connectTo(b.url, '/chat', earlier);
    assert.equal(!refused.ok && refused.code, 'ticket_invalid');
  });

  it(`leaves ${INSTANCE_CHANNEL} without subscribers: the sharded adapter carries the kicks`, async () => {
    assert.equal(await shardSubscribers(cluster, INSTANCE_CHANNEL), 0);
    // The adapter's own sharded channels are subscribed: the count above is not 0 for want of any.
    const channels = await shardChannels(cluster);
    assert.ok(
      channels.some((channel) => channel.startsWith('socket.io#/chat#')),
      `no Socket.IO sharded channel among ${JSON.stringify(channels)}`,
    );
    assert.ok(!channels.includes(INSTANCE_CHANNEL));
  });

  it('logged no ticket, no token, no credentials and no unhandled error', () => {
    for (const instance of [a, b]) assertCleanOutput(instance.output());
  });
});
