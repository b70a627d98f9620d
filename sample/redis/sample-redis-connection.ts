import { closeSampleRedisClient, createSampleRedisClient } from './redis-client.js';
import { createSampleRedisCluster, type SampleRedisCluster } from './redis-cluster-client.js';

/** Where a sample store keeps its data: one Redis (`url`) or a Redis Cluster (its nodes' URLs). */
export interface SampleRedisTarget {
  /** `redis://` or `rediss://` URL (`REDIS_URL`). */
  url?: string;
  /** A Redis Cluster's node URLs (`REDIS_CLUSTER_NODES`). */
  cluster?: readonly string[];
}

/** A request-path connection of a sample store, and how to close it. */
export interface SampleRedisConnection {
  client: ReturnType<typeof createSampleRedisClient> | SampleRedisCluster;
  /** Closes at once (a graceful close would wait for a Redis that is down). */
  close(): void;
}

/**
 * Opens the connection of a store the sample's HTTP routes await (user state, order shares):
 * commands fail at once while Redis is unreachable and are dropped when still unsent after
 * `timeout` ms. A command already sent is not bounded by this: callers race it against a timer
 * (`withRedisTimeout`).
 */
export function connectSampleRedis(
  owner: string,
  { url, cluster }: SampleRedisTarget,
  { name, timeout }: { name: string; timeout: number },
): SampleRedisConnection {
  const options = { name, failFast: { timeout } };
  if (cluster) {
    const handle = createSampleRedisCluster(cluster, options);
    return { client: handle.cluster, close: handle.close };
  }
  if (url) {
    const client = createSampleRedisClient(url, options);
    return { client, close: () => closeSampleRedisClient(client) };
  }
  throw new Error(`${owner}: pass \`url\` or \`cluster\`.`);
}
