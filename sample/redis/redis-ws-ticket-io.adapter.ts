import type { INestApplicationContext } from '@nestjs/common';
import { createAdapter } from '@socket.io/redis-adapter';
import {
  WsTicketIoAdapter,
  type WsTicketIoServer,
  type WsTicketIoServerOptions,
} from '../../lib/index.js';
import {
  closeSampleRedisClient,
  createSampleRedisClient,
  type SampleRedisClient,
} from './redis-client.js';

/**
 * `WsTicketIoAdapter` on `@socket.io/redis-adapter`: broadcasts (`/chat` messages) and
 * `disconnectSockets()` (logout-all, deactivation) reach the sockets of every sample process.
 *
 * It extends `WsTicketIoAdapter`, not Nest's `IoAdapter`, so that every namespace keeps the ticket
 * check. The Redis adapter goes into the server options, so the root namespace is created on it and
 * every gateway namespace after it. Owns a publisher and a subscriber connection; closes them once
 * the Socket.IO servers are closed.
 */
export class RedisWsTicketIoAdapter extends WsTicketIoAdapter {
  private readonly pub: SampleRedisClient;
  private readonly sub: SampleRedisClient;
  private readonly redisAdapter: ReturnType<typeof createAdapter>;

  constructor(app: INestApplicationContext, url: string) {
    super(app);
    // Both keep node-redis' offline queue: the Socket.IO adapter awaits none of its commands, so
    // one failing at once would be an unhandled rejection. Queued, they go out when Redis is back.
    this.pub = createSampleRedisClient(url, { name: 'sample-io-pub' });
    this.sub = createSampleRedisClient(url, { name: 'sample-io-sub' });
    this.redisAdapter = createAdapter(unawaitedSafe(this.pub), unawaitedSafe(this.sub));
  }

  // Typed with the adapter's own aliases (Nest's socket.io), not `socket.io`'s: they still match
  // when the app's socket.io is another copy than the one Nest's package pins.
  override createIOServer(port: number, options?: WsTicketIoServerOptions): WsTicketIoServer {
    return super.createIOServer(port, {
      ...options,
      adapter: this.redisAdapter,
    } as WsTicketIoServerOptions);
  }

  override async dispose(): Promise<void> {
    await super.dispose();
    closeSampleRedisClient(this.pub);
    closeSampleRedisClient(this.sub);
  }
}

/** What `@socket.io/redis-adapter` sends without awaiting the result. */
const UNAWAITED = new Set<PropertyKey>([
  'publish',
  'sPublish',
  'subscribe',
  'unsubscribe',
  'pSubscribe',
  'pUnsubscribe',
  'sSubscribe',
  'sUnsubscribe',
]);

/**
 * The client as the Socket.IO adapter should see it. The adapter fires `PUBLISH` and
 * (un)subscriptions without awaiting them, so one that fails (Redis dropped the connection while a
 * broadcast was in flight, or the client was closed during an outage) would be an unhandled
 * rejection and end the process. Here those rejections are handled: the packet is lost, as
 * Socket.IO documents for Redis outages, and the client's `error` listener has logged the outage.
 * Everything else reaches the client unchanged.
 */
export function unawaitedSafe<T extends object>(client: T): T {
  return new Proxy(client, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      if (!UNAWAITED.has(property)) return value.bind(target);
      return (...args: unknown[]) => {
        const result: unknown = value.apply(target, args);
        if (result instanceof Promise) result.catch(() => {});
        return result;
      };
    },
  });
}
