import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { createCluster } from 'redis';
import { keySlot, redisCommand } from './support/cluster-probe.js';
import {
  clusterSkipReason,
  type RedisClusterHandle,
  startRedisCluster,
} from './support/redis-cluster.js';

const skip = clusterSkipReason();

/** Whether a process with this pid exists. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the Redis Cluster test harness', { skip }, () => {
  let cluster: RedisClusterHandle;
  before(async () => {
    cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  });
  after(() => cluster?.stop());

  it('computes the hash slot Redis computes, hash tags included', async () => {
    for (const key of ['', 'a', 'ws-ticket:conn:0f', '{user1}.a', 'x{}y', '{}{a}', 'é{ü}']) {
      assert.equal(
        keySlot(key),
        await redisCommand(cluster.nodes[0].port, ['CLUSTER', 'KEYSLOT', key]),
      );
    }
  });

  it('forms three masters with one replica each, all slots served', async () => {
    assert.equal(cluster.masters().length, 3);
    assert.equal(cluster.nodes.filter((node) => node.role === 'replica').length, 3);
    const client = createCluster({ rootNodes: cluster.urls.map((url) => ({ url })) });
    client.on('error', () => {});
    await client.connect();
    try {
      assert.equal(client.masters.length, 3);
      await client.set('harness', 'v');
      assert.equal(await client.get('harness'), 'v');
    } finally {
      client.destroy();
    }
  });

  it('promotes the replica of a killed master, which then serves its slots', async () => {
    const old = await cluster.masterOf('harness-kill');
    await cluster.killMaster(old);
    assert.equal(old.alive, false);
    assert.equal(running(old.pid), false);
    const promoted = await cluster.waitForFailover(old);
    assert.notEqual(promoted.port, old.port);
    assert.equal(promoted.role, 'master');
    assert.equal((await cluster.masterOf('harness-kill')).port, promoted.port);
  });

  it('freezes a node until it is thawed', async () => {
    const [replica] = cluster.nodes.filter((node) => node.alive && node.role === 'replica');
    cluster.freeze(replica);
    try {
      await assert.rejects(redisCommand(replica.port, ['PING'], 300), /no answer/);
    } finally {
      cluster.thaw(replica);
    }
    assert.equal(await redisCommand(replica.port, ['PING']), 'PONG');
  });
});

describe('stopping the Redis Cluster test harness', { skip }, () => {
  it('ends every node, even a frozen one, and is safe to call twice', async () => {
    const cluster = await startRedisCluster({ masters: 3 });
    cluster.freeze(cluster.nodes[1]);
    await cluster.stop();
    await cluster.stop();
    for (const node of cluster.nodes) assert.equal(running(node.pid), false);
    for (const node of cluster.nodes) assert.equal(node.alive, false);
    assert.equal(existsSync(cluster.dir), false);
  });
});
