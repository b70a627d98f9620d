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
  /** `PUBLISH channel message` (one Redis): {@link RedisTicketStore.publish} */
  publish?(channel: string, message: string): Promise<unknown>;
  /** `SPUBLISH channel message` (Redis Cluster, sharded pub/sub) */
  sPublish?(channel: string, message: string): Promise<unknown>;
  /**
   * A new client with the same options, for subscriptions (a subscribed connection runs no other
   * command). The store connects, subscribes and closes it itself.
   */
  duplicate?(): RedisTicketSubscriber;
  /**
   * node-redis: `false` while the client is (re)connecting. The store then fails at once instead of
   * letting the client queue the command until Redis is back.
   */
  readonly isReady?: boolean;
}

/** The subscriber connection of a {@link RedisTicketClient} (its `duplicate()`). */
export interface RedisTicketSubscriber {
  connect(): Promise<unknown>;
  destroy(): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
  /** One Redis: `SUBSCRIBE` */
  subscribe?(channel: string, listener: (message: string) => void): Promise<unknown>;
  /** Redis Cluster: `SSUBSCRIBE` (sharded pub/sub, Redis 7) */
  sSubscribe?(channel: string, listener: (message: string) => void): Promise<unknown>;
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
  cluster?: never;
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
  cluster?: never;
}

/** {@link RedisTicketStore} on a Redis Cluster the store connects to and closes itself. */
export interface RedisTicketStoreClusterOptions {
  /**
   * Nodes of a Redis Cluster (Redis ≥ 7, sharded pub/sub) to discover it from: `redis://` or
   * `rediss://` URLs (`redis://[[user]:password@]host[:port]`, no database: a cluster has only
   * database 0), as a list or as node-redis' `{ rootNodes: [{ url }] }`. Give several: any one
   * that answers is enough. The user, password and TLS of the URLs apply to every node the
   * cluster reports, so they must be the same in all of them. The store creates a node-redis
   * cluster client (the optional peer dependency `redis`) when the first app using it starts,
   * keeps trying until the cluster answers, follows failovers, logs outages once, and closes it
   * when the last of those apps shuts down. For anything else (TLS certificates, `nodeAddressMap`,
   * replicas for reads), create the cluster client yourself and pass it as `client`.
   */
  cluster: readonly string[] | { readonly rootNodes: ReadonlyArray<{ readonly url: string }> };
  client?: never;
  url?: never;
}

/** Options of {@link RedisTicketStore}: exactly one of `client`, `url` or `cluster`. */
export type RedisTicketStoreOptions =
  | RedisTicketStoreClientOptions
  | RedisTicketStoreUrlOptions
  | RedisTicketStoreClusterOptions;
