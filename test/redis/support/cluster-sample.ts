import assert from 'node:assert/strict';
import type { RedisClusterHandle } from './redis-cluster.js';
import { inspector } from './redis-tools.js';

/** The module's channel between instances, with the sample's (default) key prefix. */
export const INSTANCE_CHANNEL = 'ws-ticket:instances';

/**
 * A password the sample gets in every node URL. The test cluster's nodes have none, so any `AUTH
 * default <password>` succeeds (a bare `AUTH <password>` fails): it shows credentials are passed on
 * to every node the cluster reports, and must never appear in the sample's output.
 */
export const NODE_PASSWORD = 'cluster-pw-7d1f0c2a';

/** `redis://127.0.0.1:<port>` → `redis://default:<NODE_PASSWORD>@127.0.0.1:<port>`. */
export function withPassword(url: string): string {
  return url.replace('redis://', `redis://default:${NODE_PASSWORD}@`);
}

/** `REDIS_CLUSTER_NODES` for these node URLs, each with {@link NODE_PASSWORD}. */
export function clusterNodesEnv(urls: readonly string[]): string {
  return urls.map(withPassword).join(',');
}

/**
 * The sample's startup line in Redis Cluster mode: every node URL as given, without credentials,
 * then what is shared (`sockets`: the transport's own words).
 */
export function clusterModeLine(urls: readonly string[], sockets: string): RegExp {
  const nodes = urls.map((url) => url.replaceAll('.', '\\.')).join(', ');
  return new RegExp(
    `Redis Cluster mode \\(${nodes}\\): tickets, user state and order shares are shared; ${sockets}`,
  );
}

/** `PUBSUB SHARDNUMSUB` of `channel` on the master serving its slot (sharded subscribers live there). */
export async function shardSubscribers(
  cluster: RedisClusterHandle,
  channel: string,
): Promise<number> {
  const owner = await cluster.masterOf(channel);
  const node = await inspector(owner.url);
  try {
    const reply = (await node.sendCommand(['PUBSUB', 'SHARDNUMSUB', channel])) as unknown[];
    return Number(reply[1]);
  } finally {
    node.destroy();
  }
}

/** Every sharded channel with a subscriber, over every master (`PUBSUB SHARDCHANNELS`). */
export async function shardChannels(cluster: RedisClusterHandle): Promise<string[]> {
  const channels: string[] = [];
  for (const master of cluster.masters()) {
    const node = await inspector(master.url);
    try {
      channels.push(...((await node.sendCommand(['PUBSUB', 'SHARDCHANNELS'])) as string[]));
    } finally {
      node.destroy();
    }
  }
  return channels;
}

/** Fails if a sample's output holds a ticket, a JWT, the node password or an unhandled error. */
export function assertCleanOutput(output: string): void {
  assert.doesNotMatch(output, /[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-/);
  assert.doesNotMatch(output, /eyJ/);
  assert.ok(!output.includes(NODE_PASSWORD), 'the node password appears in the output');
  assert.doesNotMatch(output, /ExceptionsHandler|Unhandled|Internal server error/i);
}
