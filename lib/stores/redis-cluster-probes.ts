// Questions the cluster store asks single nodes, each bounded, on connections it always closes.
import { withTimeout } from '../internal/with-timeout.js';
import type { RedisClusterTarget } from './redis-ticket.target.js';

/** A master as node-redis lists it. */
export interface ClusterMaster {
  readonly address: string;
}

/** What {@link replicasOf} needs of a node-redis cluster client. */
export interface ProbedCluster {
  /** The masters, by `host:port`. */
  readonly masters: readonly ClusterMaster[];
  nodeClient(node: ClusterMaster): Promise<{ sendCommand(args: string[]): Promise<unknown> }>;
}

/**
 * The first root node (in random order) that answers a `PING` within `bound` milliseconds, on a
 * connection of its own that is always destroyed. node-redis reads the topology over a connection
 * that the cluster's `destroy()` does not reach, which a frozen node would hold open for good: it
 * only ever meets a node that just answered.
 * @throws Error when none answered
 */
export async function reachableRoot(
  redis: typeof import('redis'),
  target: RedisClusterTarget,
  bound: number,
): Promise<{ url: string }> {
  const roots = [...target.rootNodes].sort(() => Math.random() - 0.5);
  for (const root of roots) {
    const probe = redis.createClient({
      url: root.url,
      disableOfflineQueue: true,
      socket: { reconnectStrategy: false, connectTimeout: bound },
    });
    probe.on('error', () => {});
    try {
      await withTimeout(
        async () => {
          await probe.connect();
          await probe.ping();
        },
        bound,
        () => new Error('timed out'),
      );
      return root;
    } catch {
      // The next one.
    } finally {
      // node-redis throws ClientClosedError when destroying a client whose connect failed: that
      // must not pass for the probe's outcome (it did, making a dead root node fail the attempt).
      if (probe.isOpen) probe.destroy();
    }
  }
  throw new Error(`no node of the cluster answered (${roots.length} tried)`);
}

/** A master's `connected_slaves` (`INFO replication`, within `bound` ms); undefined: no answer. */
export async function replicasOf(
  client: ProbedCluster,
  master: ClusterMaster,
  bound: number,
): Promise<number | undefined> {
  try {
    const info = await withTimeout(
      async () => (await client.nodeClient(master)).sendCommand(['INFO', 'replication']),
      bound,
      () => new Error('timed out'),
    );
    const count = /connected_slaves:(\d+)/.exec(String(info))?.[1];
    return count === undefined ? undefined : Number(count);
  } catch {
    return undefined;
  }
}
