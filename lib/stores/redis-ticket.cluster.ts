import type { LoggerService } from '@nestjs/common';
import { withTimeout } from '../internal/with-timeout.js';
import {
  type ClusterMaster,
  type ProbedCluster,
  reachableRoot,
  replicasOf,
} from './redis-cluster-probes.js';
import { CommandWatch } from './redis-cluster-watch.js';
import { keySlot } from './redis-key-slot.js';
import { describeError, OutageLog, REDIS_TICKET_CLIENT_NAME } from './redis-ticket.connection.js';
import type { RedisClusterTarget } from './redis-ticket.target.js';
import type { RedisTicketClient } from './redis-ticket.types.js';
import type { TicketStoreMessageListener, TicketStoreUnsubscribe } from './ticket-store.js';

/** The members of a node-redis cluster client used here. */
interface ClusterClient extends RedisTicketClient, ProbedCluster {
  readonly isOpen: boolean;
  connect(): Promise<unknown>;
  destroy(): void;
  on(event: string, listener: (error: Error) => void): unknown;
  sendCommand(firstKey: string | undefined, readonly: boolean, args: string[]): Promise<unknown>;
  sSubscribe(channel: string, listener: TicketStoreMessageListener): Promise<unknown>;
  sUnsubscribe(channel: string, listener: TicketStoreMessageListener): Promise<unknown>;
  /** Each slot's shard, by slot. */
  readonly slots: readonly ({ master: ClusterMaster } | undefined)[];
}

/** How long one (re)discovery may take: connecting every master and reading the topology, ms. */
const CONNECT_BOUND = 5000;
/** Delays between attempts while none succeeds, milliseconds. */
const RETRY = { first: 100, max: 5000 };
/** The fewest milliseconds between two replacements of the client. */
const REPLACE_EVERY = 1000;
/** A command unanswered this long (milliseconds) makes the topology suspect. */
const SLOW = 1000;
/** How long a take waits for a replica to acknowledge its delete (`WAIT`), milliseconds. */
const ACK_BOUND = 1000;
/** How long a replaced client may finish the commands it carries, milliseconds. */
const RETIRE_AFTER = 2 * SLOW;
/** How often the masters' replicas are counted again (`INFO replication`), milliseconds. */
const RECOUNT_EVERY = 10_000;
/** Replies of Redis that mean the cluster moves or is in trouble, not a wrong command. */
const TROUBLE = /^(CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY|UNBLOCKED)/;

/**
 * The store's own Redis Cluster client (`cluster`), supervised. node-redis (5.12) follows `MOVED`
 * but never rediscovers a cluster whose master died or froze (its commands fail or hang for good,
 * and sharded subscriptions are lost), so this class replaces the client: on a node's connection
 * error, a command failing other than with a reply, or a command unanswered for a second, a new
 * client discovers the cluster again (bounded; at most one per second, retried until one succeeds),
 * takes over the subscriptions, and the old one is destroyed. Healthy shards keep being served by
 * the old client meanwhile.
 *
 * It also keeps how many replicas each master has (`INFO replication`, read at every discovery and
 * every 10 s; a count once seen stays until a master answers another): a take on a replicated shard
 * is accepted only once a replica acknowledged the delete (`WAIT 1`), so that a failover can never
 * hand out a ticket that its old master already gave away.
 */
export class RedisClusterConnection {
  private redis: typeof import('redis') | undefined;
  private current: ClusterClient | undefined;
  private watched: ClusterClient | undefined;
  private starting: Promise<void> | undefined;
  /** Replicas of each master, by `host:port`. */
  private readonly replicas = new Map<string, number>();
  private recount: NodeJS.Timeout | undefined;
  /** Replaced clients, destroyed a little later. */
  private readonly retired = new Set<ClusterClient>();
  private readonly subscriptions = new Map<string, Set<TicketStoreMessageListener>>();
  private readonly discovered: Promise<void>;
  private markDiscovered: () => void = () => {};
  private replacing = false;
  private lastAttempt = 0;
  private delay = RETRY.first;
  private retry: NodeJS.Timeout | undefined;
  /** Watches the commands of the current client for failures and silence. */
  private readonly watch = new CommandWatch(SLOW, (error) => {
    if (this.isTrouble(error)) this.trouble(error);
  });
  private readonly outages: OutageLog;
  private closed = false;

  constructor(
    private readonly target: RedisClusterTarget,
    private readonly logger: LoggerService,
  ) {
    this.outages = new OutageLog(logger);
    this.discovered = new Promise((resolve) => {
      this.markDiscovered = resolve;
    });
  }

  /** Whether a client has discovered the cluster (commands fail at once until then). */
  get ready(): boolean {
    return this.current !== undefined && !this.closed;
  }

  /**
   * Loads `redis` (a missing package fails here) and makes the first attempt, whatever its outcome
   * (while the cluster is unreachable, attempts go on in the background).
   */
  async begin(): Promise<void> {
    this.starting ??= this.start();
    await this.starting;
  }

  /** The current client, watched; the first call waits for the first attempt. */
  async open(): Promise<RedisTicketClient> {
    await this.begin();
    if (this.closed) throw new Error('RedisTicketStore is closed');
    if (!this.watched) throw new Error('Redis Cluster is not connected');
    return this.watched;
  }

  /**
   * `GETDEL`, and on a shard with replicas `WAIT 1` on the same connection, sent together: the
   * value is accepted only when a replica acknowledged the delete.
   */
  async take(key: string): Promise<unknown> {
    const client = (await this.open()) as ClusterClient;
    const current = this.current;
    const master = current?.slots[keySlot(key)]?.master;
    // A master not counted yet (a planned failover promoted it, with no error to see): count it
    // first. Unknown (no answer): wait for a replica all the same.
    const replicas =
      master && current
        ? (this.replicas.get(master.address) ?? (await this.countMaster(current, master)) ?? 1)
        : 1;
    const value = client.getDel(key);
    if (replicas === 0) return value;
    const ack = client.sendCommand(key, false, ['WAIT', '1', String(ACK_BOUND)]);
    const [taken, acknowledged] = await Promise.all([value, ack]);
    if (taken !== null && taken !== undefined && Number(acknowledged) < 1) {
      this.trouble(new Error('no replica acknowledged a delete'));
      throw new Error(
        'No replica acknowledged the ticket’s delete: refused, in case of a failover',
      );
    }
    return taken;
  }

  /** Subscribes (sharded) on the current client and on every client that replaces it. */
  async subscribe(
    channel: string,
    listener: TicketStoreMessageListener,
  ): Promise<TicketStoreUnsubscribe> {
    let listeners = this.subscriptions.get(channel);
    if (!listeners) {
      listeners = new Set();
      this.subscriptions.set(channel, listeners);
    }
    // A listener that throws must not look like a node's failure (node-redis would report it so).
    const safe: TicketStoreMessageListener = (message) => {
      try {
        listener(message);
      } catch (error) {
        this.logger.error(`A Redis channel listener threw (${describeError(error)}).`);
      }
    };
    listeners.add(safe);
    this.starting ??= this.start();
    await this.discovered;
    await this.current?.sSubscribe(channel, safe);
    return async () => {
      if (!listeners.delete(safe)) return;
      if (listeners.size === 0) this.subscriptions.delete(channel);
      await this.current?.sUnsubscribe(channel, safe).catch(() => {});
    };
  }

  /** Destroys the client; operations in flight fail. */
  close(): void {
    this.closed = true;
    clearTimeout(this.retry);
    this.watch.stop();
    clearInterval(this.recount);
    for (const retired of this.retired) if (retired.isOpen) retired.destroy();
    this.retired.clear();
    const client = this.current;
    this.current = undefined;
    this.watched = undefined;
    if (client?.isOpen) client.destroy();
  }

  private async start(): Promise<void> {
    try {
      this.redis = await import('redis');
    } catch (error) {
      throw new Error(
        'RedisTicketStore: the `cluster` option needs the `redis` package (npm install redis).',
        { cause: error },
      );
    }
    this.watch.start();
    this.recount = setInterval(() => {
      if (this.current) void this.countReplicas(this.current);
    }, RECOUNT_EVERY);
    this.recount.unref();
    await this.attempt();
  }

  /** One discovery with a new client; on success it replaces the current one. */
  private async attempt(): Promise<void> {
    if (this.replacing || this.closed || !this.redis) return;
    this.replacing = true;
    this.lastAttempt = Date.now();
    let next: ClusterClient | undefined;
    try {
      const client = this.create(
        this.redis,
        await reachableRoot(this.redis, this.target, ACK_BOUND),
      );
      next = client;
      await withTimeout(
        () => client.connect(),
        CONNECT_BOUND,
        () => new Error('timed out'),
      );
      await this.countReplicas(client);
      for (const [channel, listeners] of this.subscriptions) {
        for (const listener of listeners) await client.sSubscribe(channel, listener);
      }
      if (this.closed) throw new Error('RedisTicketStore is closed');
      const old = this.current;
      this.current = client;
      this.watched = this.watch.wrap(client);
      this.delay = RETRY.first;
      this.onReady();
      this.markDiscovered();
      if (old) this.retire(old);
    } catch (error) {
      if (next?.isOpen) next.destroy();
      if (!this.closed) {
        this.onConnectionError(error);
        this.schedule(this.delay);
        this.delay = Math.min(this.delay * 2, RETRY.max);
      }
    } finally {
      this.replacing = false;
    }
  }

  /**
   * Destroys a replaced client once the commands it still carries had time to end (those to
   * healthy shards answer; those to a dead or frozen node fail then).
   */
  private retire(client: ClusterClient): void {
    this.retired.add(client);
    setTimeout(() => {
      this.retired.delete(client);
      if (client.isOpen) client.destroy();
    }, RETIRE_AFTER).unref();
  }

  private create(redis: typeof import('redis'), root: { url: string }): ClusterClient {
    const client = redis.createCluster({
      rootNodes: [root],
      defaults: {
        ...this.target.defaults,
        name: REDIS_TICKET_CLIENT_NAME,
        disableOfflineQueue: true,
      },
    }) as unknown as ClusterClient;
    // Unheard, an 'error' would end the process. A node's failure makes the topology suspect.
    client.on('error', (error) => this.fromClient(client, error));
    client.on('node-error', (error) => this.fromClient(client, error));
    return client;
  }

  private fromClient(client: ClusterClient, error: Error): void {
    if (client === this.current) this.trouble(error);
  }

  /** The topology may be stale: a new client discovers it again, soon. */
  private trouble(error: unknown): void {
    if (this.closed || this.current === undefined) return;
    this.onConnectionError(error);
    const wait = this.lastAttempt + REPLACE_EVERY - Date.now();
    if (wait <= 0) void this.attempt();
    else this.schedule(wait);
  }

  private schedule(delay: number): void {
    if (this.retry !== undefined || this.closed) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.attempt();
    }, delay);
    this.retry.unref();
  }

  private isTrouble(error: unknown): boolean {
    if (this.redis && error instanceof this.redis.ErrorReply) {
      return TROUBLE.test((error as Error).message);
    }
    return true;
  }

  /**
   * Reads `connected_slaves` from every master (bounded); a master that does not answer keeps the
   * count last read from it.
   */
  private async countReplicas(client: ClusterClient): Promise<void> {
    await Promise.all(client.masters.map((master) => this.countMaster(client, master)));
  }

  /** One master's replicas, remembered; undefined when it did not answer. */
  private async countMaster(
    client: ClusterClient,
    master: ClusterMaster,
  ): Promise<number | undefined> {
    const count = await replicasOf(client, master, ACK_BOUND);
    if (count !== undefined) this.replicas.set(master.address, count);
    return count;
  }

  private onConnectionError(error: unknown): void {
    if (!this.closed) this.outages.down(error);
  }

  private onReady(): void {
    this.outages.up();
  }
}
