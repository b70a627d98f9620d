import { TicketStore } from './ticket-store.js';

/**
 * The two commands the Redis store needs, as offered by the `redis` (node-redis v4+) client.
 * Any client with the same shape works.
 */
export interface RedisTicketClient {
  set(key: string, value: string, options: { PX: number }): Promise<unknown>;
  getDel(key: string): Promise<unknown>;
}

/** Options of {@link RedisTicketStore}. */
export interface RedisTicketStoreOptions {
  /**
   * A connected node-redis client, or a function resolving one (called for every operation, so it
   * may connect lazily, as `KeyvRedis#getClient()` does).
   */
  client: RedisTicketClient | (() => Promise<RedisTicketClient>);
}

/**
 * Ticket store on Redis, shared by every app instance. `put` is `SET key value PX ttl`; `take` is a
 * single `GETDEL` (Redis ≥ 6.2): one atomic round trip, so one ticket is accepted once across all
 * instances however many handshakes race for it.
 */
export class RedisTicketStore extends TicketStore {
  constructor(private readonly options: RedisTicketStoreOptions) {
    super();
  }

  async put(key: string, value: string, ttl: number): Promise<void> {
    const client = await this.client();
    await client.set(key, value, { PX: Math.max(1, Math.ceil(ttl)) });
  }

  async take(key: string): Promise<string | undefined> {
    const client = await this.client();
    const value = await client.getDel(key);
    return typeof value === 'string' ? value : undefined;
  }

  private client(): Promise<RedisTicketClient> | RedisTicketClient {
    const { client } = this.options;
    return typeof client === 'function' ? client() : client;
  }
}
