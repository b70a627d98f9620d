import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { UserState, UserStateUnavailableError } from '../users/user-state.js';
import { describeRedisError, withRedisTimeout } from './redis-client.js';
import {
  connectSampleRedis,
  type SampleRedisConnection,
  type SampleRedisTarget,
} from './sample-redis-connection.js';

/** Options of {@link RedisUserState}: `url` (one Redis) or `cluster` (its nodes' URLs). */
export interface RedisUserStateOptions extends SampleRedisTarget {
  /**
   * Upper bound on one Redis call, in milliseconds: a Redis that keeps the connection open but does
   * not answer (paused, overloaded) fails the request (503) after this instead of hanging it.
   * @default 2000
   */
  timeout?: number;
  /** @default 'sample:user:' */
  keyPrefix?: string;
}

/**
 * The sample's user state in Redis, shared by every sample process: one hash per user,
 * `sample:user:<id>` with `inactive` (`1` once deactivated) and `sv` (session version, `HINCRBY`,
 * so concurrent logouts on two processes both count); every command touches one key, so it runs
 * on a Redis Cluster as on one Redis. Opens its own connection and closes it on shutdown. While Redis is unreachable every call fails at once with
 * {@link UserStateUnavailableError}; while it does not answer, after `timeout`.
 */
export class RedisUserState extends UserState implements OnApplicationShutdown {
  private readonly logger = new Logger('SampleUserState');
  private readonly client: SampleRedisConnection['client'];
  private readonly close: () => void;
  private readonly keyPrefix: string;
  private readonly timeout: number;

  constructor({ timeout = 2000, keyPrefix = 'sample:user:', ...target }: RedisUserStateOptions) {
    super();
    if (!Number.isFinite(timeout) || timeout <= 0) {
      throw new Error('RedisUserState: `timeout` must be a positive number of milliseconds.');
    }
    this.keyPrefix = keyPrefix;
    this.timeout = timeout;
    const connection = connectSampleRedis('RedisUserState', target, {
      name: 'sample-user-state',
      timeout,
    });
    this.client = connection.client;
    this.close = connection.close;
  }

  async isActive(id: string): Promise<boolean> {
    return (await this.run(() => this.client.hGet(this.key(id), 'inactive'))) !== '1';
  }

  async deactivate(id: string): Promise<void> {
    await this.run(() => this.client.hSet(this.key(id), 'inactive', '1'));
  }

  async sessionVersion(id: string): Promise<number> {
    return Number((await this.run(() => this.client.hGet(this.key(id), 'sv'))) ?? 0);
  }

  async bumpSessionVersion(id: string): Promise<number> {
    return Number(await this.run(() => this.client.hIncrBy(this.key(id), 'sv', 1)));
  }

  onApplicationShutdown(): void {
    this.close();
  }

  private key(id: string): string {
    return `${this.keyPrefix}${id}`;
  }

  private async run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await withRedisTimeout(command, this.timeout);
    } catch (error) {
      this.logger.warn(`User state unavailable: ${describeRedisError(error)}`);
      throw new UserStateUnavailableError({ cause: error });
    }
  }
}
