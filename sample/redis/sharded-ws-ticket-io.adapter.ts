import type { INestApplicationContext } from '@nestjs/common';
import { createShardedAdapter } from '@socket.io/redis-adapter';
import {
  WsTicketIoAdapter,
  type WsTicketIoServer,
  type WsTicketIoServerOptions,
} from '../../lib/index.js';
import { createSampleRedisCluster, type SampleRedisClusterHandle } from './redis-cluster-client.js';
import { unawaitedSafe } from './redis-ws-ticket-io.adapter.js';

/** How long the sample waits at startup for a Redis Cluster node to answer, milliseconds. */
const CONNECT_BOUND = 15_000;

/**
 * `WsTicketIoAdapter` on `@socket.io/redis-adapter`'s sharded adapter (Redis 7 sharded pub/sub, the
 * one that fits a Redis Cluster: each channel lives on one shard): broadcasts and
 * `disconnectSockets()` reach the sockets of every sample process, as with `REDIS_URL`.
 *
 * The sharded adapter subscribes as soon as a namespace is created, which a cluster client can do
 * only once it has discovered the cluster: {@link connect} waits for that (at most 15 s, then the
 * sample fails to start, naming the cause). Both clients keep node-redis' offline queue (the
 * adapter awaits none of its commands); they are closed once the Socket.IO servers are.
 */
export class ShardedRedisWsTicketIoAdapter extends WsTicketIoAdapter {
  private readonly redisAdapter: ReturnType<typeof createShardedAdapter>;

  private constructor(
    app: INestApplicationContext,
    private readonly pub: SampleRedisClusterHandle,
    private readonly sub: SampleRedisClusterHandle,
  ) {
    super(app);
    this.redisAdapter = createShardedAdapter(
      unawaitedSafe(pub.cluster),
      unawaitedSafe(sub.cluster),
    );
  }

  /** Connects a publisher and a subscriber cluster client, then builds the adapter. */
  static async connect(
    app: INestApplicationContext,
    nodes: readonly string[],
  ): Promise<ShardedRedisWsTicketIoAdapter> {
    const pub = createSampleRedisCluster(nodes, { name: 'sample-io-pub' });
    const sub = createSampleRedisCluster(nodes, { name: 'sample-io-sub' });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), CONNECT_BOUND);
    });
    const outcome = await Promise.race([
      Promise.all([pub.whenConnected(), sub.whenConnected()]),
      late,
    ]);
    clearTimeout(timer);
    if (outcome === 'late') {
      pub.close();
      sub.close();
      throw new Error(
        `REDIS_CLUSTER_NODES: no node of the Redis Cluster answered within ${CONNECT_BOUND / 1000} s`,
      );
    }
    return new ShardedRedisWsTicketIoAdapter(app, pub, sub);
  }

  // Typed with the adapter's own aliases (Nest's socket.io), not `socket.io`'s.
  override createIOServer(port: number, options?: WsTicketIoServerOptions): WsTicketIoServer {
    return super.createIOServer(port, {
      ...options,
      adapter: this.redisAdapter,
    } as WsTicketIoServerOptions);
  }

  override async dispose(): Promise<void> {
    await super.dispose();
    this.pub.close();
    this.sub.close();
  }
}
