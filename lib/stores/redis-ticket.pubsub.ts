import type { LoggerService } from '@nestjs/common';
import { describeError } from './redis-ticket.connection.js';
import type { RedisTicketClient, RedisTicketSubscriber } from './redis-ticket.types.js';
import type { TicketStoreMessageListener, TicketStoreUnsubscribe } from './ticket-store.js';

/** What a node-redis subscriber offers beyond {@link RedisTicketSubscriber}, when it does. */
interface OwnedSubscriber extends RedisTicketSubscriber {
  on(event: string, listener: (error: Error) => void): unknown;
}

/**
 * The pub/sub of a `RedisTicketStore` on a client it does not supervise (`url`, or the app's
 * `client`; its own `cluster` subscribes through `RedisClusterConnection`): `PUBLISH` /
 * `SUBSCRIBE` on one Redis, sharded `SPUBLISH` / `SSUBSCRIBE` on a Redis Cluster client (a channel
 * lives on the shard of its hash slot, so a message crosses no other shard). Every subscription has a connection of its own, a `duplicate()` of the
 * store's client (a subscribed connection runs nothing else), which it connects, keeps subscribed
 * across reconnections (node-redis subscribes again by itself), and destroys when the
 * subscription ends or the store closes.
 */
export class RedisTicketPubSub {
  private readonly subscribers = new Set<RedisTicketSubscriber>();

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
   * Subscribes a new connection to `channel`; resolves once Redis confirmed it. While Redis is
   * unreachable, the subscription waits in the connection's queue (it is sent once Redis answers);
   * the caller bounds its own wait, and {@link close} ends it either way.
   */
  async subscribe(
    client: RedisTicketClient,
    channel: string,
    listener: TicketStoreMessageListener,
  ): Promise<TicketStoreUnsubscribe> {
    if (typeof client.duplicate !== 'function') {
      throw new Error('The Redis client offers no duplicate(): pub/sub needs node-redis (v4+).');
    }
    const cluster = isCluster(client);
    // With its offline queue (the store's own connection has none): a subscription made while
    // Redis is away is sent once it is back.
    const duplicate = client.duplicate as (overrides?: object) => OwnedSubscriber;
    const subscriber = duplicate.call(client, cluster ? undefined : { disableOfflineQueue: false });
    this.subscribers.add(subscriber);
    this.supervise(subscriber);
    const end: TicketStoreUnsubscribe = async () => {
      if (!this.subscribers.delete(subscriber)) return;
      subscriber.destroy();
    };
    const safe = (message: string) => {
      try {
        listener(message);
      } catch (error) {
        this.logger.error(`A Redis channel listener threw (${describeError(error)}).`);
      }
    };
    try {
      const connected = subscriber.connect();
      // One Redis: the connection is usable before it connected (commands queue). A cluster must
      // discover its shards first.
      if (cluster) await connected;
      else connected.catch(() => {});
      const subscribe = cluster ? subscriber.sSubscribe : subscriber.subscribe;
      if (typeof subscribe !== 'function') throw new Error('The Redis client cannot subscribe.');
      await subscribe.call(subscriber, channel, safe);
    } catch (error) {
      await end();
      throw error;
    }
    return end;
  }

  /** Destroys every subscriber connection. */
  close(): void {
    for (const subscriber of this.subscribers) subscriber.destroy();
    this.subscribers.clear();
  }

  /** Logs a subscriber's outage once and its end once (an unheard 'error' would end the process). */
  private supervise(subscriber: OwnedSubscriber): void {
    let down = false;
    const lost = (error: Error) => {
      if (down || !this.subscribers.has(subscriber)) return;
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
