import { Inject, Injectable, type OnModuleInit, Optional } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { CODE_FORMAT } from '../internal/code-format.js';
import { channelOf } from '../internal/service-channel.js';
import type { InstanceChannel } from '../session/instance-channel.js';
import { RefusalLog } from '../session/refusal-log.js';
import { WsTicketErrorCode } from '../ws-ticket.errors.js';
import { WS_TICKET_MODULE_OPTIONS } from '../ws-ticket.module-definition.js';
import type { WsTicketModuleOptions } from '../ws-ticket.options.js';
import { WsTicketService } from '../ws-ticket.service.js';
import { WS_TICKET_EVENT_PREFIX } from '../ws-ticket-session.js';
import { RoomJoins } from './room-joins.js';
import { isClientRoom, ROOM_NAME } from './room-name.js';
import { RoomRules } from './room-rules.js';
import type { RoomTransport } from './room-transport.js';
import { addOptionRules, roomLimits } from './rooms-config.js';
import { roomPatternsOf } from './ws-ticket-room.decorator.js';

/** What the adapters reach through {@link roomsInternals}. */
export interface RoomsInternals {
  readonly joins: RoomJoins;
  register(transport: RoomTransport): () => void;
}

let internals: (rooms: WsTicketRooms) => RoomsInternals;

/** The join logic and transport registration of a `WsTicketRooms` (internal: for the adapters). */
export function roomsInternals(rooms: WsTicketRooms): RoomsInternals {
  return internals(rooms);
}

/** Sends to one room: what `WsTicketRooms.to()` returns. */
export interface WsTicketRoomEmitter {
  /**
   * Sends `event` with `data` to every socket in the room, on every instance: Socket.IO sockets
   * in any namespace of the `WsTicketIoAdapter` server (other instances through its Socket.IO
   * adapter; to reach one namespace only, use its `server.to(room).emit()`), raw WebSockets of `WsTicketWsAdapter` as a `{ event, data }` frame (other instances
   * through the ticket store's channel, `RedisTicketStore`). Resolves once sent here and handed
   * to the channel.
   * @throws WsTicketError `store_unavailable` when the other instances could not be told (the
   *   sockets here got it)
   * @throws TypeError for an event of the module's (`ws-ticket:*`) or not 1-200 characters of
   *   `A-Z a-z 0-9 : _ . -`; RangeError for data over 1 MiB of JSON (raw WebSocket rooms)
   */
  emit(event: string, data?: unknown): Promise<void>;
}

/**
 * Room authorization: the rules (`rooms` option and `@WsTicketRoom()` methods) that decide the
 * `ws-ticket:join` requests of sockets on both ticket adapters, and what the server does to rooms:
 * take a user out of one on every instance, send to one, ask who is in one.
 */
@Injectable()
export class WsTicketRooms<TUser = unknown> implements OnModuleInit {
  readonly #rules: RoomRules;
  readonly #joins: RoomJoins;
  readonly #transports = new Set<RoomTransport>();
  readonly #channel: InstanceChannel;
  readonly #log = new RefusalLog();
  #listening = false;

  static {
    internals = (rooms) => ({
      joins: rooms.#joins,
      register: (transport) => rooms.#register(transport),
    });
  }

  constructor(
    @Inject(WS_TICKET_MODULE_OPTIONS) options: WsTicketModuleOptions<TUser>,
    service: WsTicketService<TUser>,
    @Optional() private readonly discovery?: DiscoveryService,
    @Optional() private readonly scanner?: MetadataScanner,
  ) {
    this.#rules = new RoomRules(service.callbackTimeout, {
      failure: (what, error) => this.#log.recordFailure(what, error),
      refusal: (code) => this.#log.record(`Room request refused: ${code}`),
    });
    addOptionRules(this.#rules, options.rooms);
    this.#joins = new RoomJoins(this.#rules, roomLimits(options));
    this.#channel = channelOf(service as WsTicketService);
  }

  /** Finds the `@WsTicketRoom()` methods of the app's providers; throws naming a bad one. */
  onModuleInit(): void {
    if (!this.discovery || !this.scanner) return;
    const seen = new Set<unknown>();
    for (const wrapper of this.discovery.getProviders()) {
      const { instance, metatype } = wrapper;
      const prototype: unknown =
        instance && typeof instance === 'object'
          ? Object.getPrototypeOf(instance)
          : (metatype as { prototype?: unknown } | null | undefined)?.prototype;
      if (!prototype || typeof prototype !== 'object' || seen.has(prototype)) continue;
      seen.add(prototype);
      for (const key of this.scanner.getAllMethodNames(prototype)) {
        const method = (prototype as Record<string, unknown>)[key];
        const patterns = roomPatternsOf(method);
        if (patterns.length === 0) continue;
        const where = `${(metatype as { name?: string } | undefined)?.name ?? 'provider'}.${key}()`;
        // Transient providers answer true to the first: their registered instance is a
        // placeholder without its dependencies.
        if (!wrapper.isDependencyTreeStatic() || wrapper.isTransient) {
          throw new Error(
            `@WsTicketRoom() on ${where}: room rules must live in a singleton provider (the default scope), not a request-scoped or transient one.`,
          );
        }
        const rule = (method as (...args: unknown[]) => unknown).bind(instance as object);
        for (const pattern of patterns) {
          this.#rules.add(pattern, rule as (...args: unknown[]) => boolean, where);
        }
      }
    }
  }

  /**
   * Takes every socket of the user out of the room, on every instance, each told with
   * `ws-ticket:left` `{ room, code }`; joins of the room that the user's sockets have in flight
   * are refused. Revoke the grant first (so that the rule says no), then call this. A Socket.IO
   * socket leaves the room however it joined it (on request or by the server's `socket.join()`).
   * Resolves how many sockets this instance took out.
   * @throws WsTicketError `store_unavailable` when the other instances (raw WebSocket rooms) could
   *   not be told; this instance's sockets were taken out
   * @throws TypeError for a room that is not a client's to be in, or a code that is not
   *   `[a-z][a-z_]*` (64 at most)
   */
  async removeFromRoom(
    userId: string,
    room: string,
    code: string = WsTicketErrorCode.ROOM_REVOKED,
  ): Promise<number> {
    checkRoom(room);
    if (typeof userId !== 'string' || userId === '') {
      throw new TypeError('removeFromRoom: userId must be a non-empty string.');
    }
    if (typeof code !== 'string' || !CODE_FORMAT.test(code)) {
      throw new TypeError('removeFromRoom: code must be 1-64 characters of a-z and _.');
    }
    let removed = 0;
    this.#joins.voidPending(userId, room, code);
    for (const transport of this.#transports) {
      removed += transport.removeFromRoom(userId, room, code);
    }
    // Like disconnectUser: any instance may hold raw WebSocket sockets of the user.
    await this.#channel.leave(userId, room, code);
    return removed;
  }

  /** Sends to a room's members on every instance; see {@link WsTicketRoomEmitter.emit}. */
  to(room: string): WsTicketRoomEmitter {
    checkRoom(room);
    return {
      emit: async (event, data) => {
        if (typeof event !== 'string' || !ROOM_NAME.test(event)) {
          throw new TypeError('emit: event must be 1-200 characters of A-Z a-z 0-9 : _ . -');
        }
        if (event.startsWith(WS_TICKET_EVENT_PREFIX)) {
          throw new TypeError(`emit: events named ${WS_TICKET_EVENT_PREFIX}* are the module's.`);
        }
        const channel = this.#needsChannel();
        // Over the limit: refused before anyone got it.
        if (channel) checkSize(data);
        for (const transport of this.#transports) transport.emit(room, event, data);
        if (channel) await this.#channel.emit(room, event, data);
      },
    };
  }

  /**
   * Whether a socket (a Socket.IO socket, or a raw WebSocket of `WsTicketWsAdapter`) is in the
   * room now on this instance, however it got there. Always `false` for a name that is no client's
   * room: malformed, the module's own (`ws-ticket:*`) or a socket id's shape, which every socket is
   * in without asking; so a handler may gate a client-named room with it alone.
   */
  has(client: unknown, room: string): boolean {
    if (!isClientRoom(room)) return false;
    for (const transport of this.#transports) {
      const answer = transport.has(client, room);
      if (answer !== undefined) return answer;
    }
    return false;
  }

  #register(transport: RoomTransport): () => void {
    this.#transports.add(transport);
    if (!transport.spansInstances && !this.#listening) {
      this.#listening = true;
      this.#channel.listenRooms({
        leave: (userId, room, code) => {
          this.#joins.voidPending(userId, room, code);
          for (const local of this.#transports) {
            if (!local.spansInstances) local.removeFromRoom(userId, room, code);
          }
        },
        emit: (room, event, data) => {
          for (const local of this.#transports) {
            if (!local.spansInstances) local.emit(room, event, data);
          }
        },
      });
    }
    return () => this.#transports.delete(transport);
  }

  /** Whether some transport here needs the module's channel to reach the other instances. */
  #needsChannel(): boolean {
    if (!this.#channel.available) return false;
    for (const transport of this.#transports) if (!transport.spansInstances) return true;
    return false;
  }
}

function checkRoom(room: unknown): asserts room is string {
  if (!isClientRoom(room)) {
    throw new TypeError(
      "A room is 1-200 characters of A-Z a-z 0-9 : _ . -, neither the module's (ws-ticket:*) nor a socket id.",
    );
  }
}

function checkSize(data: unknown): void {
  const size = JSON.stringify(data ?? null)?.length ?? 0;
  if (size > 1024 * 1024) {
    throw new RangeError(
      'emit: data may take 1 MiB of JSON at most (the channel between instances).',
    );
  }
}
