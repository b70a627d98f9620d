import { Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { WS_TICKET_LOGGER_CONTEXT } from '../ws-ticket.constants.js';
import { RedisClusterConnection } from './redis-ticket.cluster.js';
import { RedisTicketConnection } from './redis-ticket.connection.js';
import { RedisTicketPubSub } from './redis-ticket.pubsub.js';
import {
  ACQUIRE_CONNECTION,
  ADD_TO_OWNER,
  BUMP_GENERATION,
  CANCEL_CONNECTION,
  COUNT_CONNECTIONS,
  INCREMENT,
  milliseconds,
  READ_GENERATION,
  RELEASE_CONNECTION,
  RENEW_CONNECTIONS,
  readIds,
  readSlot,
  sha1Of,
  strings,
} from './redis-ticket.scripts.js';
import { type RedisTarget, redisTarget } from './redis-ticket.target.js';
import {
  TicketStore,
  type TicketStoreConnectionSlot,
  type TicketStoreCounter,
  type TicketStoreMessageListener,
  type TicketStoreUnsubscribe,
} from './ticket-store.js';

export type * from './redis-ticket.types.js';

import type { RedisTicketClient, RedisTicketStoreOptions } from './redis-ticket.types.js';

/**
 * Ticket store on Redis (≥ 6.2), shared by every app instance. `put` is `SET key value PX ttl`;
 * `take` is a single `GETDEL`: one atomic round trip, so one ticket is accepted once across all
 * instances however many handshakes race for it. A user's tickets are also listed in a set (for
 * `revokeOwner`), issuance counters are `INCR` with an expiry, each user's revocation generation is
 * a counter that outlives the tickets and handshakes it guards, and each user's connection slots
 * (`maxConnectionsPerUser`) are one sorted set timed by Redis's clock. Every command and script
 * touches one key, so each runs on one shard of a Redis Cluster (`cluster`, or a cluster client);
 * no key carries a hash tag, so tickets spread over every shard. Messages between instances
 * ({@link publish}) are Redis pub/sub, sharded on a cluster.
 *
 * While Redis is unreachable every operation fails at once (the service answers
 * `store_unavailable` / HTTP 503) rather than waiting in the client's offline queue: a `GETDEL`
 * replayed after the caller gave up would burn a ticket its holder was told to retry with. A Redis
 * that accepts connections but does not answer is bounded by the module's `storeTimeout`.
 *
 * ```ts
 * WsTicketModule.forRoot({ jwt, store: new RedisTicketStore({ url: process.env.REDIS_URL }) })
 * new RedisTicketStore({ cluster: ['redis://node-1:6379', 'redis://node-2:6379'] })
 * ```
 *
 * One instance may serve several apps, in turn or at once (an e2e suite that builds an app from the
 * same module in every `beforeEach`): with `url` or `cluster`, the store opens its connection when the first of
 * them starts and closes it when the last one shuts down; the next app to start opens a new one.
 * A `client` is the app's, whichever apps use the store: it is never connected nor closed here.
 */
export class RedisTicketStore extends TicketStore implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(WS_TICKET_LOGGER_CONTEXT);
  private readonly options: RedisTicketStoreOptions;
  /** Where its own connection goes (`url`, `cluster`); unset with `client`. */
  private readonly target: RedisTarget | undefined;
  /** The connection of its own, from its first use to the next {@link close}. */
  private connection: RedisTicketConnection | RedisClusterConnection | undefined;
  private readonly pubSub = new RedisTicketPubSub(this.logger);
  private closed = false;
  /** Apps started on this store and not shut down yet: the last one out closes the connection. */
  private users = 0;
  /** The app's client function's answer while it is pending. */
  private resolving: Promise<RedisTicketClient> | undefined;

  constructor(options: RedisTicketStoreOptions) {
    super();
    this.target = redisTarget(options);
    this.options = options;
  }

  /**
   * Counts one more app on the store and, with `url` or `cluster`, opens its connection unless
   * another app already did (at startup, so that a missing `redis` package fails the boot). A store closed by a
   * previous app's shutdown, or by {@link close}, is usable again.
   */
  async onModuleInit(): Promise<void> {
    // Counted first: Nest runs the shutdown hooks even when a startup hook threw.
    this.users += 1;
    this.closed = false;
    const cluster = this.clusterConnection();
    if (cluster) await cluster.begin();
    else if (this.target !== undefined) await this.open();
  }

  /** `SET key value PX ttl`; with an owner, also adds `key` to the owner's set, in the same trip. */
  async put(key: string, value: string, ttl: number, owner?: string): Promise<void> {
    const client = await this.client();
    const px = Math.max(1, Math.ceil(ttl));
    const set = client.set(key, value, { PX: px });
    if (owner === undefined) {
      await set;
      return;
    }
    // Sent together (node-redis pipelines them); if either fails the ticket is never handed out.
    await Promise.all([set, this.eval(ADD_TO_OWNER, owner, [key, String(px)])]);
  }

  /**
   * One `GETDEL`: atomic, so a ticket is taken once however many callers race for it. On its own
   * cluster, a shard with replicas also answers `WAIT 1` in the same trip: the value counts only
   * once a replica has the delete, so a failover cannot hand the ticket out again.
   */
  async take(key: string): Promise<string | undefined> {
    const client = await this.client();
    const value =
      this.connection instanceof RedisClusterConnection
        ? await this.connection.take(key)
        : await client.getDel(key);
    return typeof value === 'string' ? value : undefined;
  }

  /** Deletes the owner's tickets one `DEL` each (they may live on different cluster nodes). */
  override async revokeOwner(owner: string): Promise<number> {
    const client = await this.client();
    const members = strings(await client.sMembers(owner));
    if (members.length === 0) return 0;
    const deleted = await Promise.all(members.map((key) => client.del(key)));
    // Only the members read: a ticket put meanwhile stays revocable.
    await client.sRem(owner, members);
    return deleted.reduce<number>((sum, n) => sum + Number(n), 0);
  }

  /** `INCR`, and the window's expiry on the first increment, in one script. */
  override async increment(key: string, window: number): Promise<TicketStoreCounter> {
    const reply = await this.eval(INCREMENT, key, [milliseconds(window)]);
    const [count, resetIn] = Array.isArray(reply) ? reply.map(Number) : [Number.NaN, 0];
    if (!Number.isFinite(count)) throw new Error('Unexpected reply to the increment script');
    return { count, resetIn: Math.max(0, resetIn) };
  }

  /** With `ttl`, one single-key script (`GET`, and a longer life when it exists); else a `GET`. */
  override async readGeneration(key: string, ttl?: number): Promise<number> {
    if (ttl !== undefined) return this.generation(READ_GENERATION, key, ttl);
    const client = await this.client();
    const value = await client.get(key);
    const generation = value === null || value === undefined ? 0 : Number(value);
    if (!Number.isInteger(generation)) throw new Error('Unexpected revocation generation');
    return generation;
  }

  /** One single-key script: `INCR`, and a life of at least `ttl`. */
  override async bumpGeneration(key: string, ttl: number): Promise<number> {
    return this.generation(BUMP_GENERATION, key, ttl);
  }

  /**
   * One single-key script (one round trip) on the user's sorted set, timed by Redis's clock:
   * forgets what ran out, extends the slot `id` holds or adds one (evicting the oldest first when
   * asked), and makes the key live until its last lease ends.
   */
  override async acquireConnection(
    key: string,
    id: string,
    limit: number,
    lease: number,
    evictOldest: boolean,
  ): Promise<TicketStoreConnectionSlot> {
    const args = [id, String(limit), milliseconds(lease), evictOldest ? '1' : '0'];
    return readSlot(await this.eval(ACQUIRE_CONNECTION, key, args));
  }

  /**
   * One single-key script, one round trip, for all of `ids` (none: no trip): extends the live
   * slots, forgets and reports the evicted ones, gives run-out ones a slot again (as the newest)
   * while there is room and reports the others.
   */
  override async renewConnections(
    key: string,
    ids: string[],
    limit: number,
    lease: number,
  ): Promise<string[]> {
    if (ids.length === 0) return [];
    const args = [String(limit), milliseconds(lease), ...ids];
    return readIds(await this.eval(RENEW_CONNECTIONS, key, args));
  }

  /** One single-key script (one round trip): removes the slot of `id`, live or evicted. */
  override async releaseConnection(key: string, id: string): Promise<void> {
    const reply = await this.eval(RELEASE_CONNECTION, key, [id]);
    if (reply !== 0 && reply !== 1) throw new Error('Unexpected reply to releaseConnection');
  }

  /** One single-key script: removes the slot of `id`, and gives its place back to one it evicted. */
  override async cancelConnection(key: string, id: string): Promise<void> {
    const reply = await this.eval(CANCEL_CONNECTION, key, [id]);
    if (reply !== 0 && reply !== 1) throw new Error('Unexpected reply to cancelConnection');
  }

  /** One read-only single-key script (one round trip): `ZCOUNT` of leases ending after `TIME`. */
  override async countConnections(key: string): Promise<number> {
    const count = await this.eval(COUNT_CONNECTIONS, key, []);
    if (!Number.isInteger(count)) throw new Error('Unexpected reply to countConnections');
    return count as number;
  }

  /**
   * `PUBLISH` (one Redis) or sharded `SPUBLISH` (a cluster) on the store's client: every
   * instance's subscribers of `channel` receive it, those cut off from Redis at that moment do not.
   */
  override async publish(channel: string, message: string): Promise<void> {
    await this.pubSub.publish(await this.client(), channel, message);
  }

  /**
   * Subscribes a connection of its own (a `duplicate()` of the store's client) to `channel`,
   * sharded on a cluster; resolves once Redis confirmed it. The subscription survives outages
   * (node-redis subscribes again when Redis is back; messages published meanwhile are lost) and
   * ends with the returned function or {@link close}.
   */
  override async subscribe(
    channel: string,
    listener: TicketStoreMessageListener,
  ): Promise<TicketStoreUnsubscribe> {
    const cluster = this.clusterConnection();
    if (cluster) {
      if (this.closed) throw new Error('RedisTicketStore is closed');
      return cluster.subscribe(channel, listener);
    }
    return this.pubSub.subscribe(await this.client(true), channel, listener);
  }

  /**
   * Closes the connection the store opened (`url`, `cluster`) at once, whichever apps still use
   * it (a client handed in is left to the app), and every subscription's connection. Operations
   * then fail until an app starts on the store again.
   */
  async close(): Promise<void> {
    this.closed = true;
    const connection = this.connection;
    this.connection = undefined;
    connection?.close();
    this.pubSub.close();
  }

  /** Closes the store when the last app using it shuts down; other apps keep it open. */
  async onApplicationShutdown(): Promise<void> {
    this.users = Math.max(0, this.users - 1);
    if (this.users === 0) await this.close();
  }

  /**
   * Runs a single-key script: by its SHA-1 (`EVALSHA`) when the client offers it, so that the
   * script's text is not sent and hashed on every call, and by its text once Redis says it does
   * not know it (`NOSCRIPT`: a new or flushed server), which also loads it for the next calls.
   */
  private async eval(script: string, key: string, args: string[]): Promise<unknown> {
    const client = await this.client();
    const options = { keys: [key], arguments: args };
    if (typeof client.evalSha !== 'function') return client.eval(script, options);
    try {
      return await client.evalSha(sha1Of(script), options);
    } catch (error) {
      if (!String((error as Error)?.message).startsWith('NOSCRIPT')) throw error;
      return client.eval(script, options);
    }
  }

  private async generation(script: string, key: string, ttl: number): Promise<number> {
    const value = Number(await this.eval(script, key, [milliseconds(ttl)]));
    if (!Number.isInteger(value)) throw new Error('Unexpected reply to a generation script');
    return value;
  }

  /** The client, failing at once while it cannot take commands (unless `reconnecting` will do). */
  private async client(reconnecting = false): Promise<RedisTicketClient> {
    if (this.closed) throw new Error('RedisTicketStore is closed');
    const { client } = this.options;
    const resolved =
      client === undefined
        ? await this.open()
        : typeof client === 'function'
          ? await this.resolveClient(client)
          : client;
    if (reconnecting) return resolved;
    // A reconnecting node-redis client queues commands and sends them once Redis is back, long
    // after the caller timed out: fail now instead. (A cluster not discovered yet has no client.)
    if (resolved.isReady === false) throw new Error('Redis is not connected');
    return resolved;
  }

  /**
   * One call of the app's client function at a time: operations that start together (issuance
   * reads a counter and a generation at once) must not make a lazily connecting client (as
   * `KeyvRedis#getClient()`) connect twice.
   */
  private resolveClient(
    client: () => RedisTicketClient | Promise<RedisTicketClient>,
  ): Promise<RedisTicketClient> {
    this.resolving ??= Promise.resolve()
      .then(client)
      .finally(() => {
        this.resolving = undefined;
      });
    return this.resolving;
  }

  private open(): Promise<RedisTicketClient> {
    return this.clusterConnection()?.open() ?? this.serverConnection().open();
  }

  /** Its own cluster's connection (`cluster`), made on first use; undefined otherwise. */
  private clusterConnection(): RedisClusterConnection | undefined {
    if (this.target?.kind !== 'cluster') return undefined;
    this.connection ??= new RedisClusterConnection(this.target, this.logger);
    return this.connection as RedisClusterConnection;
  }

  private serverConnection(): RedisTicketConnection {
    this.connection ??= new RedisTicketConnection(
      (this.target as { url: string }).url,
      this.logger,
    );
    return this.connection as RedisTicketConnection;
  }
}
