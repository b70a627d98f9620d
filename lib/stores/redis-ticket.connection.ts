import type { LoggerService } from '@nestjs/common';
import { maskCredentials } from '../internal/mask-credentials.js';
import type { RedisTicketClient } from './redis-ticket.types.js';

/** Name the store's own connections carry in `CLIENT LIST`. */
export const REDIS_TICKET_CLIENT_NAME = 'ws-ticket';

/** Name of the store's subscriber connection (the module's channel between instances). */
export const REDIS_TICKET_SUBSCRIBER_NAME = 'ws-ticket-sub';

/** The members of the store's own node-redis client used beyond {@link RedisTicketClient}. */
interface OwnedRedisClient extends RedisTicketClient {
  readonly isOpen: boolean;
  connect(): Promise<unknown>;
  destroy(): void;
  on(event: 'error' | 'ready' | 'end', listener: (error: Error) => void): unknown;
  off(event: 'error' | 'ready' | 'end', listener: (error: Error) => void): unknown;
}

/**
 * One connection a `RedisTicketStore` opens on its `url`, from its first use to {@link close}
 * (`cluster`: `RedisClusterConnection`). Once closed it stays closed: the store makes a new one for the next app, so
 * nothing of an earlier connection (a connect still loading the `redis` package, an outage being
 * logged) reaches it.
 */
export class RedisTicketConnection {
  private client: Promise<OwnedRedisClient> | undefined;
  private current: OwnedRedisClient | undefined;
  private readonly outages: OutageLog;
  private closed = false;

  constructor(
    private readonly url: string,
    logger: LoggerService,
  ) {
    this.outages = new OutageLog(logger);
  }

  /** The client, created on the first call; resolves after its first connection attempt. */
  open(): Promise<RedisTicketClient> {
    this.client ??= this.connect();
    return this.client;
  }

  /** Destroys the client, if any; operations in flight fail. */
  close(): void {
    this.closed = true;
    const client = this.current;
    this.current = undefined;
    // destroy(), not close(): a hung Redis would hold a graceful close forever.
    if (client?.isOpen) client.destroy();
  }

  private async connect(): Promise<OwnedRedisClient> {
    let redis: typeof import('redis');
    try {
      redis = await import('redis');
    } catch (error) {
      throw new Error(
        'RedisTicketStore: the `url` option needs the `redis` package (npm install redis).',
        { cause: error },
      );
    }
    if (this.closed) throw new Error('RedisTicketStore is closed');
    // No offline queue: commands fail while disconnected. The default strategy reconnects forever.
    const client: OwnedRedisClient = redis.createClient({
      url: this.url,
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

  private onConnectionError(error: Error): void {
    if (!this.closed) this.outages.down(error);
  }

  private onReady(): void {
    this.outages.up();
  }
}

/** Logs each outage of the store's Redis once, and its end once. */
export class OutageLog {
  /** Unset before the first attempt ends. */
  private connected: boolean | undefined;

  constructor(private readonly logger: LoggerService) {}

  down(error: unknown): void {
    if (this.connected === false) return;
    this.connected = false;
    this.logger.error(
      `Redis ticket store unavailable (${describeError(error)}); tickets fail with store_unavailable until it is back.`,
    );
  }

  up(): void {
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
