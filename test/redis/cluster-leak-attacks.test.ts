import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { RedisTicketStore } from '../../lib/index.js';
import {
  type ClusterNode,
  clusterSkipReason,
  type RedisClusterHandle,
  startRedisCluster,
} from './support/redis-cluster.js';

const skip = clusterSkipReason();

/** Open TCP connections of this process to 127.0.0.1:`port`. */
function connectionsTo(port: number): number {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return handles.filter(
    (handle) => handle instanceof Socket && !handle.destroyed && handle.remotePort === port,
  ).length;
}

// Root cause: RedisClusterConnection.attempt() bounds `next.connect()` with withTimeout and then
// calls `next.destroy()`, but node-redis (5.12) reads the topology over a temporary client
// (`#getShards`) that destroy() does not reach: a root node that accepts connections and answers
// nothing (frozen, hung) keeps that connection open, one per attempt, until it answers.
describe('RedisTicketStore({ cluster }) with a frozen root node', { skip, timeout: 90_000 }, () => {
  let cluster: RedisClusterHandle;
  let frozen: ClusterNode;
  before(async () => {
    cluster = await startRedisCluster({ masters: 3 });
    [frozen] = cluster.masters();
    cluster.freeze(frozen);
  });
  after(async () => {
    if (frozen) cluster.thaw(frozen);
    await cluster?.stop();
  });

  it('keeps at most one connection to the frozen root node while it retries, and none after close()', async () => {
    const store = new RedisTicketStore({ cluster: [frozen.url] });
    try {
      // The first attempt is bounded: the boot goes on while the cluster is unreachable.
      await store.onModuleInit();
      // Give the supervision time for two more attempts (bounded, each ~5 s plus its back-off).
      await new Promise((resolve) => setTimeout(resolve, 11_000));
      const whileRetrying = connectionsTo(frozen.port);
      await store.close();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const afterClose = connectionsTo(frozen.port);
      assert.ok(
        whileRetrying <= 1,
        `${whileRetrying} connections to the frozen node while retrying: one leaks per attempt`,
      );
      assert.equal(afterClose, 0, 'close() left connections open: the process cannot exit');
    } finally {
      await store.close();
    }
  });
});
