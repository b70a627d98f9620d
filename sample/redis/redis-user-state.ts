import type { OnApplicationShutdown } from '@nestjs/common';
import { UserState, UserStateUnavailableError } from '../users/user-state.js';
import {
  closeSampleRedisClient,
  createSampleRedisClient,
  type SampleRedisClient,
} from './redis-client.js';

/** Options of {@link RedisUserState}. */
export interface RedisUserStateOptions {
  /** `redis://` or `rediss://` URL. */
  url: string;
  /**
   * Upper bound on one Redis command, in milliseconds: a Redis that accepts connections but does
   * not answer fails the request (503) instead of hanging it.
   * @default 2000
   */
  timeout?: number;
  /** @default 'sample:user:' */
  keyPrefix?: string;
}

/**
 * The sample's user state in Redis, shared by every sample process: one hash per user,
 * `sample:user:<id>` with `inactive` (`1` once deactivated) and `sv` (session version, `HINCRBY`,
 * so concurrent logouts on two processes both count). Opens its own connection and closes it on
 * shutdown. While Redis is unreachable every call fails at once with
 * {@link UserStateUnavailableError}.
 */
export class RedisUserState extends UserState implements OnApplicationShutdown {
  private readonly client: SampleRedisClient;
  private readonly keyPrefix: string;

  constructor({ url, timeout = 2000, keyPrefix = 'sample:user:' }: RedisUserStateOptions) {
    super();
    this.keyPrefix = keyPrefix;
    this.client = createSampleRedisClient(url, {
      name: 'sample-user-state',
      failFast: { timeout },
    });
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
    closeSampleRedisClient(this.client);
  }

  private key(id: string): string {
    return `${this.keyPrefix}${id}`;
  }

  private async run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      throw new UserStateUnavailableError({ cause: error });
    }
  }
}
