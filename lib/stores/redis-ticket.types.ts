// The Redis ticket store's public types: the client shape it uses, and its options.

/**
 * The part of a Redis client the store uses, as offered by the `redis` package (node-redis v4+),
 * including the client `KeyvRedis#getClient()` returns. Any client with the same shape works.
 */
export interface RedisTicketClient {
  /** `SET key value PX ms` */
  set(key: string, value: string, options: { PX: number }): Promise<unknown>;
  /** `GET key` */
  get(key: string): Promise<unknown>;
  /** `GETDEL key` (Redis ≥ 6.2) */
  getDel(key: string): Promise<unknown>;
  /** `EVAL script numkeys key… arg…` (single-key scripts only, so Redis Cluster works too) */
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  /**
   * `EVALSHA sha1 numkeys key… arg…`: used when present (node-redis has it), with `eval` after a
   * `NOSCRIPT` reply.
   */
  evalSha?(sha1: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  /** `SMEMBERS key` */
  sMembers(key: string): Promise<unknown>;
  /** `SREM key member…` */
  sRem(key: string, members: string[]): Promise<unknown>;
  /** `DEL key` */
  del(key: string): Promise<unknown>;
  /**
   * node-redis: `false` while the client is (re)connecting. The store then fails at once instead of
   * letting the client queue the command until Redis is back.
   */
  readonly isReady?: boolean;
}

/** {@link RedisTicketStore} on a client the app creates, connects and closes itself. */
export interface RedisTicketStoreClientOptions {
  /**
   * A connected node-redis client, or a function resolving one (called for every operation, so it
   * may connect lazily, as `KeyvRedis#getClient()` does). The app owns it: it connects it, listens
   * to its `error` events (node-redis requires a listener) and closes it.
   */
  client: RedisTicketClient | (() => RedisTicketClient | Promise<RedisTicketClient>);
  url?: never;
}

/** {@link RedisTicketStore} on a connection the store opens and closes itself. */
export interface RedisTicketStoreUrlOptions {
  /**
   * Redis URL (`redis://[[user]:password@]host[:port][/db]`, `rediss://` for TLS). The store creates
   * a node-redis client (the optional peer dependency `redis`) when the first app using it starts,
   * connects it in the background, logs outages once, and closes it when the last of those apps
   * shuts down.
   */
  url: string;
  client?: never;
}

/** Options of {@link RedisTicketStore}: either `client` or `url`. */
export type RedisTicketStoreOptions = RedisTicketStoreClientOptions | RedisTicketStoreUrlOptions;
