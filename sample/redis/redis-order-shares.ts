import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { OrderShares, OrderSharesUnavailableError } from '../orders/order-shares.js';
import { describeRedisError, withRedisTimeout } from './redis-client.js';
import {
  connectSampleRedis,
  type SampleRedisConnection,
  type SampleRedisTarget,
} from './sample-redis-connection.js';

/** Options of {@link RedisOrderShares}: `url` (one Redis) or `cluster` (its nodes' URLs). */
export interface RedisOrderSharesOptions extends SampleRedisTarget {
  /**
   * Upper bound on one Redis call, in milliseconds: a Redis that keeps the connection open but does
   * not answer fails the call after this instead of hanging a request or a room join.
   * @default 2000
   */
  timeout?: number;
  /** @default 'sample:order:' */
  keyPrefix?: string;
}

/**
 * The sample's order shares in Redis, shared by every sample process: one set per order,
 * `sample:order:<id>:shares`, of the ids of the users it is shared with (`SADD`, `SREM`,
 * `SISMEMBER`: one key per command, so it runs on a Redis Cluster as on one Redis). Opens its own
 * connection (`sample-order-shares`) and closes it on shutdown. While Redis is unreachable every
 * call fails at once with {@link OrderSharesUnavailableError}; while it does not answer, after
 * `timeout`.
 */
export class RedisOrderShares extends OrderShares implements OnApplicationShutdown {
  private readonly logger = new Logger('SampleOrderShares');
  private readonly client: SampleRedisConnection['client'];
  private readonly close: () => void;
  private readonly keyPrefix: string;
  private readonly timeout: number;

  constructor({ timeout = 2000, keyPrefix = 'sample:order:', ...target }: RedisOrderSharesOptions) {
    super();
    if (!Number.isFinite(timeout) || timeout <= 0) {
      throw new Error('RedisOrderShares: `timeout` must be a positive number of milliseconds.');
    }
    this.keyPrefix = keyPrefix;
    this.timeout = timeout;
    const connection = connectSampleRedis('RedisOrderShares', target, {
      name: 'sample-order-shares',
      timeout,
    });
    this.client = connection.client;
    this.close = connection.close;
  }

  async add(orderId: string, userId: string): Promise<void> {
    await this.run(() => this.client.sAdd(this.key(orderId), userId));
  }

  async remove(orderId: string, userId: string): Promise<void> {
    await this.run(() => this.client.sRem(this.key(orderId), userId));
  }

  async has(orderId: string, userId: string): Promise<boolean> {
    return (await this.run(() => this.client.sIsMember(this.key(orderId), userId))) === 1;
  }

  onApplicationShutdown(): void {
    this.close();
  }

  /** `sample:order:<id>:shares`. Only the sample's own orders get here, so keys stay few. */
  private key(orderId: string): string {
    return `${this.keyPrefix}${orderId}:shares`;
  }

  private async run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await withRedisTimeout(command, this.timeout);
    } catch (error) {
      this.logger.warn(`Order shares unavailable: ${describeRedisError(error)}`);
      throw new OrderSharesUnavailableError({ cause: error });
    }
  }
}
