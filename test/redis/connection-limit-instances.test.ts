// maxConnectionsPerUser across processes: app instances (fixtures/instance.ts) and sample processes
// on one real redis-server. Deadlines here are bounds on "does not hang" or on "well within the
// lease", never measurements.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { createClient } from 'redis';
import type { Socket } from 'socket.io-client';
import type { WebSocket } from 'ws';
import {
  type RedisServerHandle,
  redisSkipReason,
  startRedisServer,
} from '../support/redis-server.js';
import { type SampleProcess, startSample } from '../support/sample-process.js';
import { ask } from '../support/sockets.js';
import { withDeadline } from '../support/stop-child.js';
import { ask as askWs, openWs, closure as wsClosure } from '../ws/fixtures/ws-app.js';
import { connectChat, HANG_BOUND, issueTicket } from './support/http.js';
import { type Instance, type InstanceEnv, startInstance } from './support/instances.js';
import { connectionSetKey, eventually, inspector, liveSlots } from './support/redis-tools.js';
import { closure, connectTo, openAs, postAs, sampleTicket, tokenFor } from './support/sample.js';

const skip = redisSkipReason();

/** maxConnectionsPerUser of the app instances. */
const CAP = 5;
/** Parallel handshakes of one user in the storm. */
const STORM = 50;
/** Clients closing and reopening connections of one user at once, and for how long. */
const CHURN_CLIENTS = 12;
const CHURN_MS = 3000;
/** The sample's user ids (its accounts alice, bob, carol are 1, 2, 3). */
const ALICE = '1';
/** How long a close the test waits for may take: far below a 60 s lease's 20 s renewal period. */
const CLOSE_BOUND = 10_000;

type Redis = ReturnType<typeof createClient>;

/** Connections the current test opened: closed after it, even when it failed midway. */
const openConnections = new Set<() => void>();
afterEach(() => {
  for (const close of openConnections) close();
  openConnections.clear();
});

/** Registers a connection for the cleanup; the returned function closes it now. */
function kept(close: () => void): () => void {
  openConnections.add(close);
  return () => {
    openConnections.delete(close);
    close();
  };
}

/** An accepted handshake, whatever the transport. */
interface Accepted {
  ok: true;
  close(): void;
  /** Resolves once the connection ended, closed by either side. */
  closed: Promise<void>;
}

/** A handshake's outcome; `refusal` is what the client saw, in the transport's own terms. */
type Attempt = Accepted | { ok: false; refusal: string };

/** How the tests reach an instance's guarded endpoint, over Socket.IO or raw WebSocket. */
interface Transport {
  name: string;
  env: NonNullable<InstanceEnv['TRANSPORT']>;
  /** What a `connection_limit` refusal looks like to the client. */
  refusal: string;
  open(url: string, uuid: string): Promise<Attempt>;
}

const socketIo: Transport = {
  name: 'Socket.IO',
  env: 'io',
  // connect_error: err.message and err.data.code
  refusal: 'connect_error connection_limit connection_limit',
  async open(url, uuid) {
    const outcome = await connectChat(url, uuid);
    if (!outcome.ok) {
      return { ok: false, refusal: `connect_error ${outcome.message} ${outcome.code}` };
    }
    const { socket } = outcome;
    const closed = new Promise<void>((resolve) => socket.once('disconnect', () => resolve()));
    return { ok: true, close: kept(() => socket.close()), closed };
  },
};

const rawWs: Transport = {
  name: 'raw WebSocket',
  env: 'ws',
  // The upgrade's HTTP answer: status and the body's code
  refusal: '429 connection_limit',
  async open(url, uuid) {
    const target = `${url.replace(/^http/, 'ws')}/ws?uuid=${uuid}`;
    const outcome = await withDeadline(openWs(target), HANG_BOUND, 'the upgrade');
    if (!outcome.ok) return { ok: false, refusal: `${outcome.status} ${outcome.code}` };
    const { ws } = outcome;
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    return { ok: true, close: kept(() => ws.close()), closed };
  },
};

function accepted(attempt: Attempt): attempt is Accepted {
  return attempt.ok;
}

/** `WsTicketService.connectionCount()` on an instance (`GET /connections/:userId`). */
async function countOn(instance: Instance, userId: string): Promise<number> {
  const response = await fetch(`${instance.url}/connections/${encodeURIComponent(userId)}`, {
    signal: AbortSignal.timeout(HANG_BOUND),
  });
  if (response.status !== 200) throw new Error(`connection count answered ${response.status}`);
  return ((await response.json()) as { count: number }).count;
}

/** What {@link churn} saw. */
interface ChurnStats {
  accepted: number;
  refused: number;
  /** Refusals other than `connection_limit`. */
  unexpected: string[];
  /** Connections the server closed (none should: every client closes its own). */
  closedByServer: number;
  /** Most connections open at once on the client side. */
  maxOpen: number;
  /** Most live slots in Redis at once, and most `connectionCount()` answered, as sampled. */
  maxSlots: number;
  maxCounted: number;
  /** How many times each was sampled. */
  slotSamples: number;
  countSamples: number;
}

/**
 * {@link CHURN_CLIENTS} clients open connections of one user over the instances in turn, hold each
 * for a random moment, close it and open another, for {@link CHURN_MS}; meanwhile the user's live
 * slots are sampled in Redis and through `connectionCount()`. A client counts a connection as open
 * from its accept until it starts closing it: the server takes the slot before it accepts and gives
 * it back after the close, so the clients never see more open than the store holds.
 */
async function churn(
  transport: Transport,
  instances: Instance[],
  userId: string,
  redis: Redis,
): Promise<ChurnStats> {
  const stats: ChurnStats = {
    accepted: 0,
    refused: 0,
    unexpected: [],
    closedByServer: 0,
    maxOpen: 0,
    maxSlots: 0,
    maxCounted: 0,
    slotSamples: 0,
    countSamples: 0,
  };
  let open = 0;
  const until = Date.now() + CHURN_MS;
  const client = async (n: number) => {
    for (let round = 0; Date.now() < until; round++) {
      const instance = instances[(n + round) % instances.length];
      const attempt = await transport.open(instance.url, await issueTicket(instance.url, userId));
      if (!attempt.ok) {
        stats.refused++;
        if (attempt.refusal !== transport.refusal) stats.unexpected.push(attempt.refusal);
        await sleep(Math.random() * 20);
        continue;
      }
      stats.accepted++;
      open++;
      stats.maxOpen = Math.max(stats.maxOpen, open);
      let state: 'open' | 'closing' | 'ended' = 'open';
      void attempt.closed.then(() => {
        if (state === 'open') {
          stats.closedByServer++;
          open--;
        }
        state = 'ended';
      });
      await sleep(Math.random() * 50);
      if (state === 'open') {
        state = 'closing';
        open--;
      }
      attempt.close();
    }
  };
  const sampleRedis = async () => {
    while (Date.now() < until) {
      stats.maxSlots = Math.max(stats.maxSlots, await liveSlots(redis, userId));
      stats.slotSamples++;
    }
  };
  const sampleService = async () => {
    for (let i = 0; Date.now() < until; i++) {
      const counted = await countOn(instances[i % instances.length], userId);
      stats.maxCounted = Math.max(stats.maxCounted, counted);
      stats.countSamples++;
    }
  };
  await Promise.all([
    ...Array.from({ length: CHURN_CLIENTS }, (_, n) => client(n)),
    sampleRedis(),
    sampleService(),
  ]);
  return stats;
}

for (const transport of [socketIo, rawWs]) {
  /** Two app processes on one Redis, as behind a load balancer; no Socket.IO Redis adapter. */
  describe(`two ${transport.name} instances on one Redis, ${CAP} connections per user`, {
    skip,
    timeout: 60_000,
  }, () => {
    let redis: RedisServerHandle;
    let inspect: Redis;
    let a: Instance;
    let b: Instance;
    before(async () => {
      redis = await startRedisServer();
      inspect = await inspector(redis.url);
      const env: InstanceEnv = {
        REDIS_URL: redis.url,
        MAX_CONNECTIONS: String(CAP),
        ON_CONNECTION_LIMIT: 'refuse',
        ISSUE_LIMIT: '0',
        TRANSPORT: transport.env,
      };
      [a, b] = await Promise.all([startInstance(env), startInstance(env)]);
    });
    after(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      inspect?.destroy();
      await redis?.stop();
    });

    it(`lets exactly ${CAP} of ${STORM} parallel handshakes of one user in across A and B, and refuses the others with connection_limit`, async () => {
      const user = `storm-${randomUUID()}`;
      const at = (i: number) => (i % 2 === 0 ? a : b);
      const tickets = await Promise.all(
        Array.from({ length: STORM }, (_, i) => issueTicket(at(i).url, user)),
      );
      const outcomes = await Promise.all(tickets.map((uuid, i) => transport.open(at(i).url, uuid)));
      const admitted = outcomes.filter(accepted);
      const refusals = outcomes.flatMap((outcome) => (outcome.ok ? [] : [outcome.refusal]));
      assert.equal(admitted.length, CAP);
      assert.deepEqual(new Set(refusals), new Set([transport.refusal]));
      assert.equal(await liveSlots(inspect, user), CAP);
      assert.deepEqual([await countOn(a, user), await countOn(b, user)], [CAP, CAP]);

      for (const connection of admitted) connection.close();
      await eventually(
        async () => (await liveSlots(inspect, user)) === 0,
        'the slots to be given back on close',
      );
    });

    it(`never has more than ${CAP} of one user's connections open, in the clients or in Redis, while ${CHURN_CLIENTS} clients close and reopen them over A and B`, async () => {
      const user = `churn-${randomUUID()}`;
      const stats = await churn(transport, [a, b], user, inspect);
      const seen = JSON.stringify(stats);
      assert.deepEqual(stats.unexpected, [], seen);
      assert.equal(stats.closedByServer, 0, seen);
      assert.ok(stats.maxOpen <= CAP, `more than ${CAP} open in the clients: ${seen}`);
      assert.ok(stats.maxSlots <= CAP, `more than ${CAP} live slots in Redis: ${seen}`);
      assert.ok(stats.maxCounted <= CAP, `connectionCount() above ${CAP}: ${seen}`);
      // Not vacuous: the cap was reached (refusals), slots given back were taken again, and both
      // counts were read throughout.
      assert.ok(stats.refused > 0, seen);
      assert.ok(stats.accepted > 2 * CAP, seen);
      assert.ok(stats.slotSamples > 10 && stats.countSamples > 10, seen);
      await eventually(
        async () =>
          (await liveSlots(inspect, user)) === 0 &&
          (await countOn(a, user)) === 0 &&
          (await countOn(b, user)) === 0,
        'every slot to be given back',
      );
    });
  });
}

describe('an instance killed with SIGKILL, on one Redis with another', {
  skip,
  timeout: 60_000,
}, () => {
  /** connectionLease, seconds: a killed instance's slots outlive it by at most this. */
  const LEASE = 2;
  let redis: RedisServerHandle;
  let inspect: Redis;
  let a: Instance;
  let b: Instance;
  before(async () => {
    redis = await startRedisServer();
    inspect = await inspector(redis.url);
    const env: InstanceEnv = {
      REDIS_URL: redis.url,
      MAX_CONNECTIONS: String(CAP),
      CONNECTION_LEASE: String(LEASE),
      ISSUE_LIMIT: '0',
    };
    [a, b] = await Promise.all([startInstance(env), startInstance(env)]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    inspect?.destroy();
    await redis?.stop();
  });

  it("keeps its slots past the crash, so A still refuses the user, and lets them run out within the lease: A accepts the user's full cap again", async () => {
    const user = `crash-${randomUUID()}`;
    const key = connectionSetKey(user);
    const open = async (instance: Instance) =>
      socketIo.open(instance.url, await issueTicket(instance.url, user));
    for (let i = 0; i < CAP; i++) assert.ok((await open(b)).ok);
    assert.equal(await countOn(a, user), CAP);
    // B's slots as Redis holds them; once B renewed them, they are what a crash leaves behind.
    const taken = await inspect.zRangeWithScores(key, 0, -1);
    await eventually(
      async () => (await inspect.zScore(key, taken[0].value)) !== taken[0].score,
      'B to renew its slots',
    );
    const fromB = await inspect.zRange(key, 0, -1);
    assert.equal(fromB.length, CAP);

    b.child.kill('SIGKILL');
    await withDeadline(b.exited(), HANG_BOUND, 'B to die');
    const killedAt = Date.now();

    // B renewed its slots a third of a lease ago at most: they survive it for a while.
    const refused = await open(a);
    assert.equal(!refused.ok && refused.refusal, socketIo.refusal);
    assert.equal(await countOn(a, user), CAP);

    // Each refused attempt spends a ticket and holds nothing; each accepted one stays open.
    let onA = 0;
    await eventually(
      async () => {
        const attempt = await open(a);
        if (!attempt.ok && attempt.refusal !== socketIo.refusal) {
          throw new Error(`refused with ${attempt.refusal}`);
        }
        if (attempt.ok) onA++;
        return onA === CAP;
      },
      `A to accept ${CAP} connections once B's leases ran out`,
      killedAt + LEASE * 1000 + 8000 - Date.now(),
    );
    assert.equal(await liveSlots(inspect, user), CAP);
    const left = new Set(await inspect.zRange(key, 0, -1));
    assert.deepEqual(
      fromB.filter((member) => left.has(member)),
      [],
    );
    // And the cap holds again, counted from A's connections alone.
    const over = await open(a);
    assert.equal(!over.ok && over.refusal, socketIo.refusal);
  });
});

/** Opens a sample namespace as `token`'s user, closed after the test. */
async function sampleSocket(url: string, namespace: string, token: string): Promise<Socket> {
  const socket = await openAs(url, namespace, token);
  kept(() => socket.close());
  return socket;
}

/** `npm run sample` twice with REDIS_URL: Redis ticket store and the Socket.IO Redis adapter. */
describe('two sample processes with REDIS_URL, 2 connections per user and close-oldest (60 s lease)', {
  skip,
  timeout: 60_000,
}, () => {
  let redis: RedisServerHandle;
  let inspect: Redis;
  let a: SampleProcess;
  let b: SampleProcess;
  before(async () => {
    redis = await startRedisServer();
    inspect = await inspector(redis.url);
    const env = {
      REDIS_URL: redis.url,
      JWT_TTL: '600',
      WS_TICKET_TTL: '60',
      WS_TICKET_MAX_CONNECTIONS_PER_USER: '2',
      WS_TICKET_ON_CONNECTION_LIMIT: 'close-oldest',
    };
    [a, b] = await Promise.all([startSample(env), startSample(env)]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    inspect?.destroy();
    await redis?.stop();
  });

  it("closes alice's oldest connection, on A, as soon as her third opens on B: unauthorized connection_limit through the Socket.IO Redis adapter, not at a renewal", async () => {
    const alice = await tokenFor(a.url, 'alice');
    const oldest = await sampleSocket(a.url, '/chat', alice);
    const middle = await sampleSocket(b.url, '/chat', alice);
    const ended = closure(oldest);
    const newest = await sampleSocket(b.url, '/chat', alice);

    // A renews its slots every 20 s (a third of the lease): a close this early was sent to it.
    assert.deepEqual(await withDeadline(ended, CLOSE_BOUND, "A to close alice's oldest"), {
      events: ['unauthorized', 'disconnect'],
      code: 'connection_limit',
      reason: 'io server disconnect',
    });
    for (const socket of [middle, newest]) {
      assert.deepEqual(await ask(socket, 'whoami'), { id: ALICE, username: 'alice' });
    }
    assert.equal(await liveSlots(inspect, ALICE), 2);

    middle.close();
    newest.close();
    await eventually(
      async () => (await liveSlots(inspect, ALICE)) === 0,
      "alice's slots to be given back",
    );
  });

  it("closes alice's sockets on A and on B when she logs out everywhere on A, and gives their slots back", async () => {
    const alice = await tokenFor(b.url, 'alice');
    const sockets = [
      await sampleSocket(a.url, '/chat', alice),
      await sampleSocket(b.url, '/chat', alice),
    ];
    assert.equal(await liveSlots(inspect, ALICE), 2);
    const ended = Promise.all(sockets.map(closure));

    assert.equal((await postAs(a.url, '/api/auth/logout-all', alice)).status, 204);

    for (const result of await withDeadline(ended, CLOSE_BOUND, "alice's sockets to close")) {
      assert.deepEqual(result, {
        events: ['unauthorized', 'disconnect'],
        code: 'user_revoked',
        reason: 'io server disconnect',
      });
    }
    // Given back at the close, long before a 60 s lease could run out.
    await eventually(
      async () => (await liveSlots(inspect, ALICE)) === 0,
      "alice's slots to be given back",
      CLOSE_BOUND,
    );
  });
});

/** `npm run sample:ws` twice with REDIS_URL: the processes share the store and its channel. */
describe('two sample:ws processes with REDIS_URL, 2 connections per user, close-oldest and a 60 s lease', {
  skip,
  timeout: 60_000,
}, () => {
  // Long enough that no renewal (every 20 s) can explain a close within CLOSE_BOUND.
  const LEASE = 60;
  let redis: RedisServerHandle;
  let inspect: Redis;
  let a: SampleProcess;
  let b: SampleProcess;
  before(async () => {
    redis = await startRedisServer();
    inspect = await inspector(redis.url);
    const env = {
      REDIS_URL: redis.url,
      JWT_TTL: '600',
      WS_TICKET_TTL: '60',
      WS_TICKET_MAX_CONNECTIONS_PER_USER: '2',
      WS_TICKET_ON_CONNECTION_LIMIT: 'close-oldest',
      WS_TICKET_CONNECTION_LEASE: String(LEASE),
    };
    [a, b] = await Promise.all([startSample(env, 'main-ws.js'), startSample(env, 'main-ws.js')]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    inspect?.destroy();
    await redis?.stop();
  });

  /** Opens /ws/chat on a sample as `token`'s user, closed after the test. */
  async function chat(sample: SampleProcess, token: string): Promise<WebSocket> {
    const uuid = await sampleTicket(sample.url, token);
    const target = `${sample.url.replace(/^http/, 'ws')}/ws/chat?uuid=${uuid}`;
    const outcome = await withDeadline(openWs(target), HANG_BOUND, 'the upgrade');
    if (!outcome.ok) throw new Error(`upgrade refused: ${outcome.status} ${outcome.code}`);
    kept(() => outcome.ws.close());
    return outcome.ws;
  }

  it("closes alice's oldest socket, on A, with 4409 connection_limit as soon as her third opens on B: through the store's channel, not at a renewal", async () => {
    const alice = await tokenFor(a.url, 'alice');
    const oldest = await chat(a, alice);
    const middle = await chat(b, alice);
    const ended = wsClosure(oldest);
    const newest = await chat(b, alice);

    assert.deepEqual(await withDeadline(ended, CLOSE_BOUND, "A to close alice's oldest"), {
      code: 4409,
      reason: 'connection_limit',
    });
    for (const ws of [middle, newest]) {
      const answer = withDeadline(askWs(ws, 'whoami'), HANG_BOUND, 'whoami');
      assert.deepEqual(await answer, { id: ALICE, username: 'alice' });
    }
    assert.equal(await liveSlots(inspect, ALICE), 2);
  });
});

describe('the sample with REDIS_URL and WS_TICKET_MAX_CONNECTIONS_PER_USER=0', {
  skip,
  timeout: 60_000,
}, () => {
  let redis: RedisServerHandle;
  let inspect: Redis;
  let sample: SampleProcess;
  before(async () => {
    redis = await startRedisServer();
    inspect = await inspector(redis.url);
    sample = await startSample({
      REDIS_URL: redis.url,
      JWT_TTL: '600',
      WS_TICKET_TTL: '60',
      WS_TICKET_MAX_CONNECTIONS_PER_USER: '0',
    });
  });
  after(async () => {
    await sample?.stop();
    inspect?.destroy();
    await redis?.stop();
  });

  it('accepts 55 connections of one user (above the default 50) and keeps no connection set in Redis', async () => {
    const bob = await tokenFor(sample.url, 'bob');
    // Within the sample's issuance limit (60 a minute).
    const tickets = await Promise.all(
      Array.from({ length: 55 }, () => sampleTicket(sample.url, bob)),
    );
    const outcomes = await Promise.all(tickets.map((uuid) => connectTo(sample.url, '/chat', uuid)));
    for (const outcome of outcomes) if (outcome.ok) kept(() => outcome.socket.close());
    assert.deepEqual(
      outcomes.map((outcome) => (outcome.ok ? 'ok' : outcome.code)),
      outcomes.map(() => 'ok'),
    );
    assert.equal(await inspect.exists(connectionSetKey('2')), 0);
    assert.deepEqual(await inspect.keys('ws-ticket:conn:*'), []);
  });
});
