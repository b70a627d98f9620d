import type { LoggerService } from '@nestjs/common';
import { maskCredentials } from '../internal/mask-credentials.js';
import type { RedisTarget } from './redis-ticket.target.js';
import type { RedisTicketClient } from './redis-ticket.types.js';

/** Name the store's own connections carry in `CLIENT LIST`. */
export const REDIS_TICKET_CLIENT_NAME = 'ws-ticket';

/** The members of the store's own node-redis client used beyond {@link RedisTicketClient}. */
interface OwnedRedisClient extends RedisTicketClient {
  readonly isOpen: boolean;
  connect(): Promise<unknown>;
  destroy(): void;
  on(event: string, listener: (error: Error) => void): unknown;
  off(event: string, listener: (error: Error) => void): unknown;
}

/** Delays between attempts to reach a cluster none of whose root nodes answered, milliseconds. */
const CLUSTER_RETRY = { first: 100, max: 5000 };

/**
 * One connection a `RedisTicketStore` opens on its `url` or `cluster`, from its first use to
 * {@link close}. Once closed it stays closed: the store makes a new one for the next app, so
 * nothing of an earlier connection (a connect still loading the `redis` package, an outage being
 * logged) reaches it.
 */
export class RedisTicketConnection {
  private client: Promise<OwnedRedisClient> | undefined;
  private current: OwnedRedisClient | undefined;
  /** For logging each outage once; unset before the first attempt ends. */
  private connected: boolean | undefined;
  private closed = false;
  /** A cluster's next discovery attempt, while none of its root nodes answered. */
  private retry: NodeJS.Timeout | undefined;
  /** Whether a cluster client has discovered its cluster (commands fail at once until then). */
  private discovered = false;

  constructor(
    private readonly target: RedisTarget,
    private readonly logger: LoggerService,
  ) {}

  /** The client, created on the first call; resolves after its first connection attempt. */
  open(): Promise<RedisTicketClient> {
    this.client ??= this.connect();
    return this.client;
  }

  /** Whether the client can take commands now; `false` makes the store fail at once. */
  get ready(): boolean {
    return this.target.kind === 'server' || this.discovered;
  }

  /** Destroys the client, if any; operations in flight fail. */
  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    const client = this.current;
    this.current = undefined;
    // destroy(), not close(): a hung Redis would hold a graceful close forever.
    if (client?.isOpen) client.destroy();
  }

  private async connect(): Promise<OwnedRedisClient> {
    let redis: typeof import('redis');
    const option = this.target.kind === 'server' ? 'url' : 'cluster';
    try {
      redis = await import('redis');
    } catch (error) {
      throw new Error(
        `RedisTicketStore: the \`${option}\` option needs the \`redis\` package (npm install redis).`,
        { cause: error },
      );
    }
    if (this.closed) throw new Error('RedisTicketStore is closed');
    return this.target.kind === 'server'
      ? this.connectServer(redis, this.target.url)
      : this.connectCluster(redis, this.target);
  }

  private async connectServer(
    redis: typeof import('redis'),
    url: string,
  ): Promise<OwnedRedisClient> {
    // No offline queue: commands fail while disconnected. The default strategy reconnects forever.
    const client: OwnedRedisClient = redis.createClient({
      url,
      name: REDIS_TICKET_CLIENT_NAME,
      disableOfflineQueue: true,
    });
    this.current = client;
    // node-redis emits 'error' on every failed (re)connection; unheard, it would crash the process.
    client.on('error', (error) => this.onConnectionError(error));
    client.on('ready', () => this.onReady());
    await new Promise<void>((resolve) => {
      const settle = () => {
        client.off('ready', settle);
        client.off('error', settle);
        client.off('end', settle);
        resolve();
      };
      client.on('ready', settle);
      client.on('error', settle);
      client.on('end', settle);
      // Failures surface as 'error' events while the client keeps retrying.
      client.connect().catch(() => {});
    });
    return client;
  }

  /**
   * A cluster client: every node's connection without an offline queue (commands to a node that
   * is down fail at once), named like the single server's. Its `connect()` gives up when no root
   * node answers: then it is tried again in the background, commands failing meanwhile.
   */
  private async connectCluster(
    redis: typeof import('redis'),
    { rootNodes, defaults }: Extract<RedisTarget, { kind: 'cluster' }>,
  ): Promise<OwnedRedisClient> {
    const cluster = redis.createCluster({
      rootNodes,
      defaults: { ...defaults, name: REDIS_TICKET_CLIENT_NAME, disableOfflineQueue: true },
    }) as unknown as OwnedRedisClient;
    this.current = cluster;
    // Discovery failures are 'error'; a node's connection failures are 'node-error'.
    cluster.on('error', (error) => this.onConnectionError(error));
    cluster.on('node-error', (error) => this.onConnectionError(error));
    cluster.on('node-ready', () => this.onReady());
    await this.discover(cluster, CLUSTER_RETRY.first);
    return cluster;
  }

  /** One discovery attempt; after a failure, the next one is scheduled (doubling, up to a cap). */
  private async discover(cluster: OwnedRedisClient, delay: number): Promise<void> {
    if (this.closed || this.current !== cluster) return;
    try {
      await cluster.connect();
      this.discovered = true;
      this.onReady();
    } catch (error) {
      this.onConnectionError(error as Error);
      if (this.closed) return;
      this.retry = setTimeout(
        () => void this.discover(cluster, Math.min(delay * 2, CLUSTER_RETRY.max)),
        delay,
      );
      this.retry.unref();
    }
  }

  private onConnectionError(error: Error): void {
    if (this.connected === false || this.closed) return;
    this.connected = false;
    this.logger.error(
      `Redis ticket store unavailable (${describeError(error)}); tickets fail with store_unavailable until it is back.`,
    );
  }

  private onReady(): void {
    if (this.connected === false) this.logger.log('Redis ticket store available again.');
    this.connected = true;
  }
}

/** The cause of a connection error. Anything shaped like URL credentials is masked, to be sure. */
export function describeError(error: unknown): string {
  const { message, code, name } = (error ?? {}) as {
    message?: string;
    code?: string;
    name?: string;
  };
  // Node reports a refused dual-stack connect as an AggregateError with an empty message.
  const text = message || code || name || 'unknown error';
  return maskCredentials(text);
}
