import type { LoggerService } from '@nestjs/common';
import { describeError, REDIS_TICKET_SUBSCRIBER_NAME } from './redis-ticket.connection.js';
import type { RedisTicketClient, RedisTicketSubscriber } from './redis-ticket.types.js';
import type { TicketStoreMessageListener, TicketStoreUnsubscribe } from './ticket-store.js';

/** What a node-redis subscriber offers beyond {@link RedisTicketSubscriber}, when it does. */
interface OwnedSubscriber extends RedisTicketSubscriber {
  /** node-redis: false once closed, or when `connect()` failed (`destroy()` would then throw). */
  readonly isOpen?: boolean;
  on(event: string, listener: (error: Error) => void): unknown;
  /** `UNSUBSCRIBE` / `SUNSUBSCRIBE` of one listener it subscribed. */
  unsubscribe?(channel: string, listener: TicketStoreMessageListener): Promise<unknown>;
  sUnsubscribe?(channel: string, listener: TicketStoreMessageListener): Promise<unknown>;
}

/**
 * The pub/sub of a `RedisTicketStore` on a client it does not supervise (`url`, or the app's
 * `client`; its own `cluster` subscribes through `RedisClusterConnection`): `PUBLISH` /
 * `SUBSCRIBE` on one Redis, sharded `SPUBLISH` / `SSUBSCRIBE` on a Redis Cluster client (a channel
 * lives on the shard of its hash slot, so a message crosses no other shard). Every subscription
 * shares one connection, a `duplicate()` of the store's client, which it connects, keeps
 * subscribed across reconnections (node-redis subscribes again by itself), and destroys when the
 * store closes.
 */
export class RedisTicketPubSub {
  /** The one subscriber connection, for every channel and listener; unset until needed. */
  private subscriber: { connection: OwnedSubscriber; cluster: boolean } | undefined;

  constructor(private readonly logger: LoggerService) {}

  /** `SPUBLISH` on a cluster, `PUBLISH` on one Redis. */
  async publish(client: RedisTicketClient, channel: string, message: string): Promise<void> {
    const send = isCluster(client) ? client.sPublish : client.publish;
    if (typeof send !== 'function') {
      throw new Error('The Redis client offers no publish(): pub/sub needs node-redis (v4+).');
    }
    await send.call(client, channel, message);
  }

  /**
   * Subscribes `listener` to `channel` on the store's one subscriber connection (made on the first
   * call); resolves once Redis confirmed it. While Redis is unreachable, the subscription waits in
   * the connection's queue (it is sent once Redis answers); the caller bounds its own wait, and
   * {@link close} ends it either way.
   */
  async subscribe(
    client: RedisTicketClient,
    channel: string,
    listener: TicketStoreMessageListener,
  ): Promise<TicketStoreUnsubscribe> {
    const { connection, cluster } = await this.subscriberOf(client);
    const safe = (message: string) => {
      try {
        listener(message);
      } catch (error) {
        this.logger.error(`A Redis channel listener threw (${describeError(error)}).`);
      }
    };
    const subscribe = cluster ? connection.sSubscribe : connection.subscribe;
    const unsubscribe = cluster ? connection.sUnsubscribe : connection.unsubscribe;
    if (typeof subscribe !== 'function') throw new Error('The Redis client cannot subscribe.');
    await subscribe.call(connection, channel, safe);
    let subscribed = true;
    return async () => {
      if (!subscribed || this.subscriber?.connection !== connection) return;
      subscribed = false;
      await unsubscribe?.call(connection, channel, safe).catch(() => {});
    };
  }

  /** Destroys the subscriber connection; the next subscription makes a new one. */
  close(): void {
    const connection = this.subscriber?.connection;
    this.subscriber = undefined;
    if (connection && connection.isOpen !== false) connection.destroy();
  }

  /**
   * The subscriber: a `duplicate()` of the store's client (a subscribed connection runs nothing
   * else) named `ws-ticket-sub`, with an offline queue (the store's own connection has none), so
   * that a subscription made while Redis is away is sent once it is back.
   */
  private async subscriberOf(
    client: RedisTicketClient,
  ): Promise<{ connection: OwnedSubscriber; cluster: boolean }> {
    if (this.subscriber) return this.subscriber;
    if (typeof client.duplicate !== 'function') {
      throw new Error('The Redis client offers no duplicate(): pub/sub needs node-redis (v4+).');
    }
    const cluster = isCluster(client);
    const duplicate = client.duplicate as (overrides?: object) => OwnedSubscriber;
    const connection = duplicate.call(
      client,
      cluster ? undefined : { disableOfflineQueue: false, name: REDIS_TICKET_SUBSCRIBER_NAME },
    );
    const made = { connection, cluster };
    this.subscriber = made;
    this.supervise(connection);
    const connected = connection.connect();
    try {
      // One Redis: usable before it connected (commands queue). A cluster must discover first.
      if (cluster) await connected;
      else connected.catch(() => {});
    } catch (error) {
      if (this.subscriber === made) this.close();
      throw error;
    }
    return made;
  }

  /** Logs a subscriber's outage once and its end once (an unheard 'error' would end the process). */
  private supervise(subscriber: OwnedSubscriber): void {
    let down = false;
    const lost = (error: Error) => {
      if (down || this.subscriber?.connection !== subscriber) return;
      down = true;
      this.logger.error(
        `Redis subscriber unavailable (${describeError(error)}); messages from other instances are lost until it is back.`,
      );
    };
    const back = () => {
      if (!down) return;
      down = false;
      this.logger.log('Redis subscriber available again.');
    };
    // A client: 'error' / 'ready'; a cluster client: also its nodes' 'node-error' / 'node-ready'.
    subscriber.on('error', lost);
    subscriber.on('node-error', lost);
    subscriber.on('ready', back);
    subscriber.on('node-ready', back);
  }
}

/** A node-redis cluster client (it lists its masters; a single server's client does not). */
export function isCluster(client: RedisTicketClient): boolean {
  return 'masters' in client;
}
