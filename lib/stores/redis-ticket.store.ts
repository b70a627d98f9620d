import { Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { WS_TICKET_LOGGER_CONTEXT } from '../ws-ticket.constants.js';
import { TicketStore, type TicketStoreCounter } from './ticket-store.js';

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
   * a node-redis client (the optional peer dependency `redis`) when the module starts, connects it
   * in the background, logs outages once, and closes it on application shutdown.
   */
  url: string;
  client?: never;
}

/** Options of {@link RedisTicketStore}: either `client` or `url`. */
export type RedisTicketStoreOptions = RedisTicketStoreClientOptions | RedisTicketStoreUrlOptions;

/** Name the store's own connections carry in `CLIENT LIST`. */
const CLIENT_NAME = 'ws-ticket';

/** KEYS[1] owner set; ARGV ticket key, ttl (ms). The set lives as long as its longest ticket. */
const ADD_TO_OWNER = `
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1`;

/** KEYS[1] counter; ARGV window (ms). Returns { count, ms until the window ends }. */
const INCREMENT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return { count, ttl }`;

/** KEYS[1] generation; ARGV ttl (ms). Returns the generation (0 when unset), extending its life. */
const READ_GENERATION = `
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return tonumber(value)`;

/** KEYS[1] generation; ARGV ttl (ms). Returns the new generation. */
const BUMP_GENERATION = `
local value = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return value`;

/** The members of the store's own node-redis client used beyond {@link RedisTicketClient}. */
interface OwnedRedisClient extends RedisTicketClient {
  readonly isOpen: boolean;
  connect(): Promise<unknown>;
  destroy(): void;
  on(event: 'error' | 'ready' | 'end', listener: (error: Error) => void): unknown;
  off(event: 'error' | 'ready' | 'end', listener: (error: Error) => void): unknown;
}

/**
 * Ticket store on Redis (≥ 6.2), shared by every app instance. `put` is `SET key value PX ttl`;
 * `take` is a single `GETDEL`: one atomic round trip, so one ticket is accepted once across all
 * instances however many handshakes race for it. A user's tickets are also listed in a set (for
 * `revokeOwner`), issuance counters are `INCR` with an expiry, and each user's revocation
 * generation is a counter that outlives the tickets and handshakes it guards; every command touches
 * one key, so Redis Cluster works too.
 *
 * While Redis is unreachable every operation fails at once (the service answers
 * `store_unavailable` / HTTP 503) rather than waiting in the client's offline queue: a `GETDEL`
 * replayed after the caller gave up would burn a ticket its holder was told to retry with. A Redis
 * that accepts connections but does not answer is bounded by the module's `storeTimeout`.
 *
 * ```ts
 * WsTicketModule.forRoot({ jwt, store: new RedisTicketStore({ url: process.env.REDIS_URL }) })
 * ```
 */
export class RedisTicketStore extends TicketStore implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(WS_TICKET_LOGGER_CONTEXT);
  private readonly options: RedisTicketStoreOptions;
  private owned: Promise<OwnedRedisClient> | undefined;
  private ownedClient: OwnedRedisClient | undefined;
  /** State of the store's own connection, for logging each outage once; unset before it is tried. */
  private connected: boolean | undefined;
  private closed = false;
  /** The app's client function's answer while it is pending. */
  private resolving: Promise<RedisTicketClient> | undefined;

  constructor(options: RedisTicketStoreOptions) {
    super();
    if ((options?.client === undefined) === (options?.url === undefined)) {
      throw new Error('RedisTicketStore: pass exactly one of `client` or `url`.');
    }
    if (options.url !== undefined && !isRedisUrl(options.url)) {
      // The URL may hold a password: it stays out of the message.
      throw new Error('RedisTicketStore: `url` must be a redis:// or rediss:// URL.');
    }
    this.options = options;
  }

  /** Opens the store's own connection at startup, so a missing `redis` package fails the boot. */
  async onModuleInit(): Promise<void> {
    if (this.options.url !== undefined) await this.open();
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
    await Promise.all([
      set,
      client.eval(ADD_TO_OWNER, { keys: [owner], arguments: [key, String(px)] }),
    ]);
  }

  /** One `GETDEL`: atomic, so a ticket is taken once however many callers race for it. */
  async take(key: string): Promise<string | undefined> {
    const client = await this.client();
    const value = await client.getDel(key);
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
    const client = await this.client();
    const px = Math.max(1, Math.ceil(window));
    const reply = await client.eval(INCREMENT, { keys: [key], arguments: [String(px)] });
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

  /** Closes the connection the store opened (`url`); a client handed in is left to the app. */
  async close(): Promise<void> {
    this.closed = true;
    const client = this.ownedClient;
    this.ownedClient = undefined;
    // destroy(), not close(): a hung Redis would hold a graceful close forever.
    if (client?.isOpen) client.destroy();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  private async generation(script: string, key: string, ttl: number): Promise<number> {
    const client = await this.client();
    const px = String(Math.max(1, Math.ceil(ttl)));
    const value = Number(await client.eval(script, { keys: [key], arguments: [px] }));
    if (!Number.isInteger(value)) throw new Error('Unexpected reply to a generation script');
    return value;
  }

  private async client(): Promise<RedisTicketClient> {
    if (this.closed) throw new Error('RedisTicketStore is closed');
    const { client } = this.options;
    const resolved =
      client === undefined
        ? await this.open()
        : typeof client === 'function'
          ? await this.resolveClient(client)
          : client;
    // A reconnecting node-redis client queues commands and sends them once Redis is back, long
    // after the caller timed out: fail now instead.
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

  private open(): Promise<OwnedRedisClient> {
    this.owned ??= this.connect(this.options.url as string);
    return this.owned;
  }

  /** Creates the client and resolves after its first connection attempt, successful or not. */
  private async connect(url: string): Promise<OwnedRedisClient> {
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
      url,
      name: CLIENT_NAME,
      disableOfflineQueue: true,
    });
    this.ownedClient = client;
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

/** SMEMBERS replies an array (RESP2) or a Set (RESP3 with a type mapping). */
function strings(reply: unknown): string[] {
  const items = reply instanceof Set ? [...reply] : Array.isArray(reply) ? reply : [];
  return items.map(String);
}

function isRedisUrl(url: unknown): boolean {
  if (typeof url !== 'string') return false;
  try {
    return ['redis:', 'rediss:'].includes(new URL(url).protocol);
  } catch {
    return false;
  }
}

/** The cause of a connection error. Anything shaped like URL credentials is masked, to be sure. */
function describeError(error: unknown): string {
  const { message, code, name } = (error ?? {}) as {
    message?: string;
    code?: string;
    name?: string;
  };
  // Node reports a refused dual-stack connect as an AggregateError with an empty message.
  const text = message || code || name || 'unknown error';
  return text.replace(/\/\/[^/@\s]*@/g, '//***@');
}
