import { randomUUID } from 'node:crypto';
import { maskCredentials } from '../internal/mask-credentials.js';
import type { BoundedTicketStore } from '../stores/bounded-ticket-store.js';
import type { TicketStoreUnsubscribe } from '../stores/ticket-store.js';
import type { WsTicketErrorCode } from '../ws-ticket.errors.js';

/** What the other instances ask of this one. */
export interface InstanceChannelHandlers {
  /** Another instance's `disconnectUser(userId, code)`. */
  disconnect(userId: string, code: WsTicketErrorCode): void;
  /** Connections another instance's handshake evicted (`close-oldest`). */
  evict(userId: string, ids: readonly string[]): void;
}

/** Where the channel's own troubles go: Nest's `Logger` fits. */
interface ChannelLogger {
  warn(message: string): void;
  error(message: string): void;
}

/** The most a message may be (bytes of UTF-16, roughly): longer ones are not parsed. */
const MAX_MESSAGE = 64 * 1024;
/** The most evicted ids one message may name (a handshake evicts a few). */
const MAX_IDS = 1000;
/** A code as `disconnectUser` takes it: one of the module's, or a newer instance's. */
const CODE = /^[a-z][a-z_]{0,63}$/;

/**
 * The module's channel between the instances of an app (`<keyPrefix>instances` on the ticket
 * store: Redis pub/sub, sharded on a cluster). It carries what reaches every instance's sockets
 * whatever their transport: `disconnectUser` and `close-oldest` evictions. Socket.IO on a
 * cross-instance adapter does that through `serverSideEmit` already; raw WebSocket (and
 * guard-only) sockets rely on this. Listening starts when the first registry that cannot reach
 * other instances joins, so a Socket.IO app on the Redis adapter opens no subscriber.
 *
 * Messages are JSON, `{ v: 1, from, op, user, … }`, read defensively: another app on the same
 * Redis and prefix, or a newer instance during a rolling deploy, must not crash this one. An
 * instance ignores its own messages (it acted before sending).
 */
export class InstanceChannel {
  private readonly id = randomUUID();
  private subscription: Promise<TicketStoreUnsubscribe | undefined> | undefined;
  private confirmed = false;
  private closed = false;
  private warnedMalformed = false;

  constructor(
    private readonly tickets: BoundedTicketStore,
    private readonly logger: ChannelLogger,
  ) {}

  /** Whether the store carries messages between instances. */
  get available(): boolean {
    return this.tickets.publishes;
  }

  /** Starts listening, once; failures are logged, never thrown. */
  listen(handlers: InstanceChannelHandlers): void {
    if (!this.available || this.subscription || this.closed) return;
    this.subscription = this.tickets
      .subscribe((message) => this.receive(message, handlers))
      .then(
        (unsubscribe) => {
          this.confirmed = true;
          // Closed while subscribing: end it now.
          if (this.closed) void unsubscribe().catch(() => {});
          return unsubscribe;
        },
        (error: unknown) => {
          this.logger.error(
            `Not listening to the other instances (${messageOf(error)}): their disconnectUser() ` +
              "calls and evictions do not reach this instance's raw WebSocket sockets.",
          );
          return undefined;
        },
      );
  }

  /**
   * Resolves whether the subscription was confirmed within `timeout` milliseconds (true when
   * nothing listens: there is nothing to wait for). Says once when it was not.
   */
  async listening(timeout: number): Promise<boolean> {
    if (!this.subscription || this.confirmed) return true;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeout);
    });
    await Promise.race([this.subscription, late]);
    clearTimeout(timer);
    if (!this.confirmed && !this.closed) {
      this.logger.warn(
        `Not subscribed to the other instances after ${timeout} ms (is the store reachable?): ` +
          'their disconnectUser() calls reach this instance once the subscription is confirmed.',
      );
    }
    return this.confirmed;
  }

  /** Tells the other instances to close the user's sockets. @throws WsTicketError `store_unavailable` */
  async disconnect(userId: string, code: WsTicketErrorCode): Promise<void> {
    if (this.available) await this.send({ op: 'disconnect', user: userId, code });
  }

  /** Tells the other instances which of their connections were evicted; failures are dropped. */
  evict(userId: string, ids: readonly string[]): void {
    if (!this.available || ids.length === 0) return;
    // They learn it at their next lease renewal otherwise; the store logged the failure.
    this.send({ op: 'evict', user: userId, ids }).catch(() => {});
  }

  /** Stops listening. */
  async close(): Promise<void> {
    this.closed = true;
    const unsubscribe = this.confirmed ? await this.subscription : undefined;
    await unsubscribe?.().catch(() => {});
  }

  private send(body: Record<string, unknown>): Promise<void> {
    return this.tickets.publish(JSON.stringify({ v: 1, from: this.id, ...body }));
  }

  private receive(message: unknown, handlers: InstanceChannelHandlers): void {
    if (this.closed) return;
    const parsed = parse(message);
    if (parsed?.from === this.id) return;
    if (parsed?.op === 'disconnect' && typeof parsed.code === 'string' && CODE.test(parsed.code)) {
      handlers.disconnect(parsed.user, parsed.code as WsTicketErrorCode);
    } else if (parsed?.op === 'evict' && isIds(parsed.ids)) {
      handlers.evict(parsed.user, parsed.ids);
    } else {
      this.malformed();
    }
  }

  private malformed(): void {
    if (this.warnedMalformed) return;
    this.warnedMalformed = true;
    this.logger.warn(
      'Ignored a malformed message on the channel between instances (another app on the same ' +
        'store and keyPrefix? give each app its own keyPrefix); further ones are ignored silently.',
    );
  }
}

interface Envelope {
  from: string;
  op: unknown;
  user: string;
  code?: unknown;
  ids?: unknown;
}

function parse(message: unknown): Envelope | undefined {
  if (typeof message !== 'string' || message.length > MAX_MESSAGE) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { v, from, user } = value as Record<string, unknown>;
  if (v !== 1 || typeof from !== 'string' || typeof user !== 'string' || user === '') {
    return undefined;
  }
  return value as Envelope;
}

function isIds(ids: unknown): ids is string[] {
  return (
    Array.isArray(ids) &&
    ids.length <= MAX_IDS &&
    ids.every((id) => typeof id === 'string' && id.length <= 200)
  );
}

function messageOf(error: unknown): string {
  return maskCredentials(error instanceof Error ? error.message : String(error));
}
