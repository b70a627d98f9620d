import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { RedisTicketStore } from '../../lib/index.js';
import { connect } from '../support/sockets.js';
import { issueTicket } from './support/http.js';
import { type Instance, startInstance } from './support/instances.js';
import {
  type ClusterNode,
  clusterSkipReason,
  type RedisClusterHandle,
  startRedisCluster,
} from './support/redis-cluster.js';
import { eventually, ticketKey } from './support/redis-tools.js';

const skip = clusterSkipReason();

/** Codes a handshake may be refused with while a shard fails over. */
const FAILOVER_CODES = new Set(['store_unavailable', 'ticket_invalid']);

/** Keys drawn until one is served by `master`. */
async function keyOn(cluster: RedisClusterHandle, master: ClusterNode): Promise<string> {
  for (;;) {
    const key = `ws-ticket:${randomUUID()}`;
    if ((await cluster.masterOf(key)).port === master.port) return key;
  }
}

describe('RedisTicketStore({ cluster }) when a master freezes and its replica takes over', {
  skip,
  timeout: 120_000,
}, () => {
  let cluster: RedisClusterHandle;
  let a: RedisTicketStore;
  let b: RedisTicketStore;
  before(async () => {
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    a = new RedisTicketStore({ cluster: [...cluster.urls] });
    b = new RedisTicketStore({ cluster: [...cluster.urls] });
    await Promise.all([a.onModuleInit(), b.onModuleInit()]);
  });
  after(async () => {
    await Promise.all([a?.onApplicationShutdown(), b?.onApplicationShutdown()]);
    await cluster?.stop();
  });

  it('never hands a ticket out twice: a take queued to the frozen master is refused after the thaw, the new master gives it once', async () => {
    const [master] = cluster.masters();
    const key = await keyOn(cluster, master);
    await a.put(key, 'ticket', 60_000);
    // Reach the master from both stores first, so that each has a connection to freeze.
    assert.equal(await b.take(`${key}-absent`), undefined);
    cluster.freeze(master);
    let thawed = false;
    try {
      // Queued to the frozen master: it answers only after the thaw, if ever.
      const early = a.take(key).then(
        (value) => ({ value }),
        (error: Error) => ({ error: error.message }),
      );
      await cluster.waitForFailover(master, 30_000);
      // B notices its unanswered commands, discovers the cluster again and takes from the new
      // master; its earlier attempts may fail (coded) meanwhile.
      let value: string | undefined;
      await eventually(
        async () => {
          value = await b.take(key).catch(() => undefined);
          return value !== undefined;
        },
        'B to take the ticket from the promoted replica',
        30_000,
      );
      assert.equal(value, 'ticket');
      cluster.thaw(master);
      thawed = true;
      const outcome = await early;
      assert.notDeepEqual(
        outcome,
        { value: 'ticket' },
        'the old master handed the ticket out again',
      );
    } finally {
      if (!thawed) cluster.thaw(master);
    }
    // Both stores serve every shard again.
    await eventually(async () => {
      const fresh = ticketKey(randomUUID());
      await a.put(fresh, 'again', 60_000).catch(() => {});
      return (await b.take(fresh).catch(() => undefined)) === 'again';
    }, 'both stores to serve every shard again');
  });
});

describe('two instances on a Redis Cluster with replicas, a master killed', {
  skip,
  timeout: 180_000,
}, () => {
  let cluster: RedisClusterHandle;
  let a: Instance;
  let b: Instance;
  before(async () => {
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    const env = {
      REDIS_CLUSTER_NODES: cluster.urls.join(','),
      STORE_TIMEOUT: '2000',
      ISSUE_LIMIT: '0' as const,
    };
    [a, b] = await Promise.all([startInstance(env), startInstance(env)]);
  });
  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await cluster?.stop();
  });

  /** Opens /chat with a ticket; resolves 'ok' (closed at once) or the refusal's code. */
  async function attempt(instance: Instance, uuid: string): Promise<string> {
    const outcome = await connect(`${instance.url}/chat`, { auth: { uuid }, timeout: 10_000 });
    if (!outcome.ok) return outcome.code ?? `error: ${outcome.message}`;
    outcome.socket.close();
    return 'ok';
  }

  it('refuses with codes while the shard fails over, accepts no ticket twice, and serves its slots again after', async () => {
    const tickets = await Promise.all(
      Array.from({ length: 30 }, (_, i) => issueTicket(i % 2 ? a.url : b.url, `user-${i}`)),
    );
    const owners = await Promise.all(tickets.map((uuid) => cluster.masterOf(ticketKey(uuid))));
    const [victim] = [...owners].sort(
      (x, y) =>
        owners.filter((o) => o.port === y.port).length -
        owners.filter((o) => o.port === x.port).length,
    );
    await cluster.killMaster(victim);
    // Every ticket, twice at once, on A and on B, while the shard fails over.
    const during = await Promise.all(
      tickets.map((uuid) => Promise.all([attempt(a, uuid), attempt(b, uuid)])),
    );
    for (const pair of during) {
      assert.ok(pair.filter((code) => code === 'ok').length <= 1, `twice: ${pair}`);
      for (const code of pair) assert.ok(code === 'ok' || FAILOVER_CODES.has(code), code);
    }
    const promoted = await cluster.waitForFailover(victim, 30_000);
    // Service resumes, on the promoted master's slots too.
    const onPromoted = async () => {
      for (;;) {
        const uuid = await issueTicket(a.url, `after-${randomUUID()}`).catch(() => undefined);
        if (uuid && (await cluster.masterOf(ticketKey(uuid))).port === promoted.port) return uuid;
      }
    };
    await eventually(
      async () => (await attempt(b, await onPromoted())) === 'ok',
      'a ticket on the promoted master to open a socket on B',
      30_000,
    );
    // Tickets refused during the failover that were never taken may be used now, but once.
    const afterwards = await Promise.all(
      tickets.map((uuid) => Promise.all([attempt(a, uuid), attempt(b, uuid)])),
    );
    for (const [i, pair] of afterwards.entries()) {
      const accepted = [...during[i], ...pair].filter((code) => code === 'ok').length;
      assert.ok(accepted <= 1, `ticket ${i} accepted ${accepted} times`);
      for (const code of pair) assert.ok(code === 'ok' || FAILOVER_CODES.has(code), code);
    }
    for (const instance of [a, b]) assert.equal(instance.alive(), true);
  });
});
