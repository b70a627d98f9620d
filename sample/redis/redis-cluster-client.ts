import { Logger } from '@nestjs/common';
import { createCluster } from 'redis';
import { describeRedisError, type SampleRedisClientOptions } from './redis-client.js';

/** A node-redis cluster client as the sample creates them. */
export type SampleRedisCluster = ReturnType<typeof createCluster>;

/** A cluster client, with what its owner needs: when it is usable, and how to close it. */
export interface SampleRedisClusterHandle {
  cluster: SampleRedisCluster;
  /** Resolves once the cluster was discovered (never rejects: attempts go on until closed). */
  whenConnected(): Promise<void>;
  /** Stops the attempts and closes the client at once. */
  close(): void;
}

/** Delays between attempts to discover a cluster none of whose nodes answered, milliseconds. */
const RETRY = { first: 100, max: 5000 };

/**
 * Creates a node-redis cluster client on `REDIS_CLUSTER_NODES` and connects it in the background.
 * A cluster client gives up when no node answers its first `CLUSTER SLOTS`: it is tried again
 * (100 ms, doubling, up to 5 s) until one does; commands fail meanwhile. The user, password and
 * TLS of the first URL go to `defaults`, which node-redis applies to every node the cluster
 * reports (a root node's own URL applies to that node only). Every node's errors are logged once
 * per outage, never the URLs.
 */
export function createSampleRedisCluster(
  nodes: readonly string[],
  { name, failFast }: SampleRedisClientOptions,
): SampleRedisClusterHandle {
  const logger = new Logger('SampleRedis');
  const first = new URL(nodes[0]);
  const cluster: SampleRedisCluster = createCluster({
    rootNodes: nodes.map((url) => ({ url })),
    defaults: {
      name,
      username: first.username ? decodeURIComponent(first.username) : undefined,
      password: first.password ? decodeURIComponent(first.password) : undefined,
      socket: first.protocol === 'rediss:' ? { tls: true } : undefined,
      // No per-command timeout on a cluster's nodes: callers bound their waits (withRedisTimeout).
      disableOfflineQueue: failFast !== undefined,
    },
  });
  let down = false;
  const onError = (error: unknown) => {
    if (down) return;
    down = true;
    logger.error(
      `Redis Cluster connection "${name}" unavailable (${describeRedisError(error)}); retrying.`,
    );
  };
  cluster.on('error', onError);
  cluster.on('node-error', onError);
  cluster.on('node-ready', () => {
    if (!down) return;
    down = false;
    logger.log(`Redis Cluster connection "${name}" is back.`);
  });
  let closed = false;
  const connected = new Promise<void>((resolve) => {
    const attempt = (delay: number) => {
      if (closed) return;
      cluster.connect().then(
        () => resolve(),
        (error: unknown) => {
          onError(error);
          setTimeout(() => attempt(Math.min(delay * 2, RETRY.max)), delay).unref();
        },
      );
    };
    attempt(RETRY.first);
  });
  return {
    cluster,
    whenConnected: () => connected,
    close: () => {
      closed = true;
      // destroy(), not close(): a graceful close would wait for nodes that are down.
      if (cluster.isOpen) cluster.destroy();
    },
  };
}
