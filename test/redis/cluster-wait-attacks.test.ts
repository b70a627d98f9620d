import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { RedisTicketStore } from '../../lib/index.js';
import { clusterNodes, redisCommand } from './support/cluster-probe.js';
import {
  type ClusterNode,
  clusterSkipReason,
  type RedisClusterHandle,
  startRedisCluster,
} from './support/redis-cluster.js';
import { ticketKey } from './support/redis-tools.js';

const skip = clusterSkipReason();

/** Keys drawn until one is served by `master`. */
async function keyOn(cluster: RedisClusterHandle, master: ClusterNode): Promise<string> {
  for (;;) {
    const key = ticketKey(randomUUID());
    if ((await cluster.masterOf(key)).port === master.port) return key;
  }
}

// Root cause: RedisClusterConnection keeps replica counts by master address, read only at a
// discovery and every 10 s (countReplicas). A planned failover (`CLUSTER FAILOVER`, what managed
// Redis does for maintenance) raises no node error: node-redis follows the MOVED, learns the new
// master, and `take()` finds no count for its address (`!this.replicas.get(master)`), so it skips
// `WAIT 1` on a shard that has a replica: a take the replica never saw is accepted.
describe('RedisTicketStore({ cluster }) after a planned failover', {
  skip,
  timeout: 120_000,
}, () => {
  let cluster: RedisClusterHandle;
  let store: RedisTicketStore;
  let frozen: ClusterNode | undefined;
  before(async () => {
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    store = new RedisTicketStore({ cluster: [...cluster.urls] });
    await store.onModuleInit();
  });
  after(async () => {
    if (frozen) cluster.thaw(frozen);
    await store?.onApplicationShutdown();
    await cluster?.stop();
  });

  it('accepts no take on a replicated shard that no replica acknowledged', async () => {
    const [master] = cluster.masters();
    const view = clusterNodes(await redisCommand(master.port, ['CLUSTER', 'NODES']));
    const replicaId = view.find((line) => line.masterId === master.id)?.id;
    const replica = cluster.nodes.find((node) => node.id === replicaId);
    assert.ok(replica, 'the master has a replica');
    // The replica takes over with the master's cooperation; the old master becomes its replica.
    await redisCommand(replica.port, ['CLUSTER', 'FAILOVER']);
    await cluster.waitForFailover(master, 30_000);
    // A take on the shard: its MOVED makes the store's client learn the new master.
    const warm = await keyOn(cluster, replica);
    await store.put(warm, 'warm', 60_000).catch(() => {});
    await store.take(warm).catch(() => undefined);
    const key = await keyOn(cluster, replica);
    await store.put(key, 'ticket', 60_000);
    // The shard's only replica (the old master) now acknowledges nothing: a take must not count.
    frozen = master;
    cluster.freeze(master);
    const outcome = await store.take(key).then(
      (value) => ({ value }),
      (error: Error) => ({ error: error.message }),
    );
    assert.ok(
      !('value' in outcome) || outcome.value === undefined,
      'a take no replica acknowledged was accepted (no WAIT after the planned failover)',
    );
  });
});
