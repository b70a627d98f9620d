import { randomUUID } from 'node:crypto';
import { CODE_FORMAT } from '../internal/code-format.js';
import { maskCredentials } from '../internal/mask-credentials.js';
import { ROOM_NAME } from '../rooms/room-name.js';
import type { BoundedTicketStore } from '../stores/bounded-ticket-store.js';
import type { TicketStoreUnsubscribe } from '../stores/ticket-store.js';
import type { WsTicketErrorCode } from '../ws-ticket.errors.js';
import { WS_TICKET_EVENT_PREFIX } from '../ws-ticket-session.js';

/** What the other instances ask of this one. */
export interface InstanceChannelHandlers {
  /** Another instance's `disconnectUser(userId, code)`. */
  disconnect(userId: string, code: WsTicketErrorCode): void;
  /** Connections another instance's handshake evicted (`close-oldest`). */
  evict(userId: string, ids: readonly string[]): void;
}

/** What the other instances ask of this one's rooms (raw WebSocket rooms live per process). */
export interface InstanceRoomHandlers {
  /** Another instance's `removeFromRoom(userId, room, code)`. */
  leave(userId: string, room: string, code: string): void;
  /** Another instance's `to(room).emit(event, data)`. */
  emit(room: string, event: string, data: unknown): void;
}

/** Where the channel's own troubles go: Nest's `Logger` fits. */
interface ChannelLogger {
  warn(message: string): void;
  error(message: string): void;
}

/**
 * The most a message may be (UTF-16 code units): longer ones are not parsed. Room messages carry
 * the app's data (at most {@link MAX_ROOM_DATA}).
 */
const MAX_MESSAGE = 1024 * 1024 + 4096;
/** The most an emitted room message's data may take, serialized (code units). */
export const MAX_ROOM_DATA = 1024 * 1024;
/** The most evicted ids one message may name (a handshake evicts a few). */
const MAX_IDS = 1000;

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
  private handlers: InstanceChannelHandlers | undefined;
  private roomHandlers: InstanceRoomHandlers | undefined;

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
    this.handlers = handlers;
    this.subscribe();
  }

  /** Passes room messages to `handlers` and starts listening, once. */
  listenRooms(handlers: InstanceRoomHandlers): void {
    this.roomHandlers = handlers;
    this.subscribe();
  }

  private subscribe(): void {
    if (!this.available || this.subscription || this.closed) return;
    this.subscription = this.tickets
      .subscribe((message) => this.receive(message))
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

  /** Tells the other instances to take the user's sockets out of a room. @throws WsTicketError `store_unavailable` */
  async leave(userId: string, room: string, code: string): Promise<void> {
    if (this.available) await this.send({ op: 'leave', user: userId, room, code });
  }

  /**
   * Sends a room message to the other instances' members.
   * @throws RangeError when `data` serializes to more than {@link MAX_ROOM_DATA}
   * @throws WsTicketError `store_unavailable`
   */
  async emit(room: string, event: string, data: unknown): Promise<void> {
    if (this.available) await this.send({ op: 'emit', room, event, data });
  }

  /** Stops listening. */
  async close(): Promise<void> {
    this.closed = true;
    const unsubscribe = this.confirmed ? await this.subscription : undefined;
    await unsubscribe?.().catch(() => {});
  }

  private async send(body: Record<string, unknown>): Promise<void> {
    const message = JSON.stringify({ v: 1, from: this.id, ...body });
    if (message.length > MAX_MESSAGE) {
      throw new RangeError(
        `A message to the other instances may take ${MAX_ROOM_DATA} characters of JSON at most.`,
      );
    }
    return this.tickets.publish(message);
  }

  private receive(message: unknown): void {
    if (this.closed) return;
    const parsed = parse(message);
    if (parsed?.from === this.id) return;
    const { handlers, roomHandlers: rooms } = this;
    const user = typeof parsed?.user === 'string' && parsed.user !== '' ? parsed.user : undefined;
    const code =
      typeof parsed?.code === 'string' && CODE_FORMAT.test(parsed.code) ? parsed.code : '';
    const room = typeof parsed?.room === 'string' && ROOM_NAME.test(parsed.room) ? parsed.room : '';
    if (parsed?.op === 'disconnect' && user && code) {
      handlers?.disconnect(user, code as WsTicketErrorCode);
    } else if (parsed?.op === 'evict' && user && isIds(parsed.ids)) {
      handlers?.evict(user, parsed.ids);
    } else if (parsed?.op === 'leave' && user && room && code) {
      rooms?.leave(user, room, code);
    } else if (
      parsed?.op === 'emit' &&
      room &&
      typeof parsed.event === 'string' &&
      ROOM_NAME.test(parsed.event) &&
      // The module's own events are never relayed: a sender refuses them, so must a receiver.
      !parsed.event.startsWith(WS_TICKET_EVENT_PREFIX)
    ) {
      // No data: none sent (the frame then has no `data`, as for the members here).
      rooms?.emit(room, parsed.event, parsed.data);
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
  user?: unknown;
  code?: unknown;
  ids?: unknown;
  room?: unknown;
  event?: unknown;
  data?: unknown;
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
  const { v, from } = value as Record<string, unknown>;
  if (v !== 1 || typeof from !== 'string') return undefined;
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
