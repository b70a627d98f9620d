// `npm run sample:ws` (raw WebSocket) on a real Redis Cluster of three masters: kicks cross
// processes over the module's sharded channel; and samples whose root node list starts with a node
// that is down. Deadlines are bounds on "does not hang", never measurements.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import type { WebSocket } from 'ws';
import { freePort } from '../support/redis-server.js';
import { type SampleProcess, startSample } from '../support/sample-process.js';
import { ask } from '../support/sockets.js';
import { withDeadline } from '../support/stop-child.js';
import {
  ask as askWs,
  openWs,
  type WsClosure,
  closure as wsClosure,
} from '../ws/fixtures/ws-app.js';
import { redisCommand } from './support/cluster-probe.js';
import {
  assertCleanOutput,
  clusterModeLine,
  clusterNodesEnv,
  INSTANCE_CHANNEL,
  shardSubscribers,
} from './support/cluster-sample.js';
import {
  clusterSkipReason,
  type RedisClusterHandle,
  startRedisCluster,
} from './support/redis-cluster.js';
import { eventually, ticketKey } from './support/redis-tools.js';
import { connectTo, postAs, SAMPLE_TICKET_PATH, sampleTicket, tokenFor } from './support/sample.js';

const skip = clusterSkipReason();

/** Upgrades racing for one ticket, spread over both processes. */
const RACE = 50;
/** How long a kick may take to close a socket: a bound, not a measurement. */
const CLOSE_BOUND = 10_000;
const WS_MODE =
  "WebSocket kicks and room messages reach every process \\(the ticket store's channel\\); chat messages stay local";

/** Sockets the current test opened: closed after it, even when it failed midway. */
const openSockets = new Set<WebSocket | Socket>();
afterEach(() => {
  for (const socket of openSockets) socket.close();
  openSockets.clear();
});

/** The upgrade URL of the sample's raw chat for a ticket. */
function chatUrl(sample: SampleProcess, uuid: string): string {
  return `${sample.url.replace(/^http/, 'ws')}/ws/chat?uuid=${uuid}`;
}

/** Opens /ws/chat on `on` with a ticket issued on `issuer` for `token`'s user. */
async function chat(on: SampleProcess, issuer: SampleProcess, token: string): Promise<WebSocket> {
  const uuid = await sampleTicket(issuer.url, token);
  const outcome = await openWs(chatUrl(on, uuid));
  if (!outcome.ok) throw new Error(`upgrade refused: ${outcome.status} ${outcome.code}`);
  openSockets.add(outcome.ws);
  return outcome.ws;
}

/** Resolves the close code and reason, failing past {@link CLOSE_BOUND}. */
function closed(ws: WebSocket, what: string): Promise<WsClosure> {
  return withDeadline(wsClosure(ws), CLOSE_BOUND, what);
}

describe('Samples on a Redis Cluster of three masters (REDIS_CLUSTER_NODES)', {
  skip,
  timeout: 240_000,
}, () => {
  let cluster: RedisClusterHandle;
  before(async () => {
    cluster = await startRedisCluster({ masters: 3 });
  });
  after(() => cluster?.stop());

  describe('two sample:ws processes', () => {
    let a: SampleProcess;
    let b: SampleProcess;
    before(async () => {
      const env = {
        REDIS_CLUSTER_NODES: clusterNodesEnv(cluster.urls),
        JWT_TTL: '600',
        WS_TICKET_TTL: '60',
      };
      [a, b] = await Promise.all([startSample(env, 'main-ws.js'), startSample(env, 'main-ws.js')]);
    });
    after(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
    });

    it('logs at startup that it runs in Redis Cluster mode, naming every node without credentials', () => {
      for (const instance of [a, b]) {
        assert.match(instance.output(), clusterModeLine(cluster.urls, WS_MODE));
      }
    });

    it(`subscribes each process once to ${INSTANCE_CHANNEL}, on the master serving its slot`, async () => {
      await eventually(
        async () => (await shardSubscribers(cluster, INSTANCE_CHANNEL)) === 2,
        'both processes to subscribe',
      );
    });

    it(`accepts a ticket issued on A exactly once among ${RACE} upgrades racing on A and B`, async () => {
      const uuid = await sampleTicket(a.url, await tokenFor(a.url, 'alice'));
      const outcomes = await Promise.all(
        Array.from({ length: RACE }, (_, i) => openWs(chatUrl(i % 2 ? b : a, uuid))),
      );
      const accepted = outcomes.flatMap((outcome) => (outcome.ok ? [outcome.ws] : []));
      for (const ws of accepted) openSockets.add(ws);
      assert.equal(accepted.length, 1);
      assert.deepEqual(
        outcomes.flatMap((outcome) => (outcome.ok ? [] : [`${outcome.status} ${outcome.code}`])),
        Array(RACE - 1).fill('401 ticket_invalid'),
      );
      assert.deepEqual(await askWs(accepted[0], 'whoami'), { id: '1', username: 'alice' });
    });

    it("closes alice's sockets on B (and A) with 4003 user_revoked when she logs out everywhere on A, and leaves bob's", async () => {
      const alice = await tokenFor(a.url, 'alice');
      const aliceSockets = await Promise.all([
        chat(b, a, alice),
        chat(b, b, alice),
        chat(a, b, alice),
      ]);
      const bobOnB = await chat(b, a, await tokenFor(a.url, 'bob'));
      const ends = Promise.all(aliceSockets.map((ws) => closed(ws, "alice's socket to be closed")));

      assert.equal((await postAs(a.url, '/api/auth/logout-all', alice)).status, 204);

      assert.deepEqual(await ends, Array(3).fill({ code: 4003, reason: 'user_revoked' }));
      assert.deepEqual(await askWs(bobOnB, 'whoami'), { id: '2', username: 'bob' });
    });

    it('closes carol on B with 4003 user_revoked when she is deactivated on A; B then refuses her new tickets (401) and an earlier one', async () => {
      const carol = await tokenFor(b.url, 'carol');
      const earlier = await sampleTicket(b.url, carol);
      const carolOnB = await chat(b, a, carol);
      const end = closed(carolOnB, "carol's socket to be closed");

      assert.equal((await postAs(a.url, '/api/account/deactivate', carol)).status, 204);

      assert.deepEqual(await end, { code: 4003, reason: 'user_revoked' });
      const response = await postAs(b.url, SAMPLE_TICKET_PATH, carol);
      assert.equal(response.status, 401);
      assert.equal(((await response.json()) as { code: string }).code, 'user_rejected');
      const refused = await openWs(chatUrl(b, earlier));
      assert.equal(!refused.ok && refused.code, 'ticket_invalid');
    });

    it('logged no ticket, no token, no credentials and no unhandled error', () => {
      for (const instance of [a, b]) assertCleanOutput(instance.output());
    });
  });

  /**
   * node-redis starts discovery at a random root node and tries the others in turn: with a dead node
   * and a live one, half the cluster clients of each process meet the dead one first.
   */
  describe('a sample and a sample:ws whose REDIS_CLUSTER_NODES starts with a node that is down', () => {
    let io: SampleProcess;
    let ws: SampleProcess;
    let roots: string[];
    before(async () => {
      // A closed port: every connection to it is refused.
      roots = [`redis://127.0.0.1:${await freePort()}`, cluster.urls[1]];
      const env = {
        REDIS_CLUSTER_NODES: clusterNodesEnv(roots),
        JWT_TTL: '600',
        WS_TICKET_TTL: '60',
      };
      [io, ws] = await Promise.all([startSample(env), startSample(env, 'main-ws.js')]);
    });
    after(async () => {
      await Promise.all([io?.stop(), ws?.stop()]);
    });

    it('start in Redis Cluster mode (sample and sample:ws)', () => {
      assert.match(
        io.output(),
        clusterModeLine(roots, 'Socket\\.IO broadcasts and kicks reach every process'),
      );
      assert.match(ws.output(), clusterModeLine(roots, WS_MODE));
    });

    it('share tickets over the whole cluster: issued on one, accepted once on the other, stored on its master', async () => {
      const bob = await tokenFor(io.url, 'bob');
      const fromIo = await sampleTicket(io.url, bob);
      const owner = await cluster.masterOf(ticketKey(fromIo));
      assert.equal(await redisCommand(owner.port, ['EXISTS', ticketKey(fromIo)]), 1);
      const onWs = await openWs(chatUrl(ws, fromIo));
      assert.ok(onWs.ok, 'sample:ws refused a ticket of sample');
      openSockets.add(onWs.ws);
      assert.deepEqual(await askWs(onWs.ws, 'whoami'), { id: '2', username: 'bob' });

      const fromWs = await sampleTicket(ws.url, await tokenFor(ws.url, 'alice'));
      const onIo = await connectTo(io.url, '/chat', fromWs);
      assert.ok(onIo.ok, 'sample refused a ticket of sample:ws');
      openSockets.add(onIo.socket);
      assert.deepEqual(await ask(onIo.socket, 'whoami'), { id: '1', username: 'alice' });
      const again = await connectTo(io.url, '/chat', fromWs);
      assert.equal(!again.ok && again.code, 'ticket_invalid');
    });

    it("subscribe sample:ws to the module's channel, and a logout-all on sample closes its raw socket with 4003", async () => {
      await eventually(
        async () => (await shardSubscribers(cluster, INSTANCE_CHANNEL)) === 1,
        'sample:ws to subscribe',
      );
      const bob = await tokenFor(io.url, 'bob');
      const bobOnWs = await chat(ws, io, bob);
      const end = closed(bobOnWs, "bob's raw socket to be closed");
      assert.equal((await postAs(io.url, '/api/auth/logout-all', bob)).status, 204);
      assert.deepEqual(await end, { code: 4003, reason: 'user_revoked' });
    });

    it('logged no ticket, no token, no credentials and no unhandled error', () => {
      for (const instance of [io, ws]) assertCleanOutput(instance.output());
    });
  });
});
