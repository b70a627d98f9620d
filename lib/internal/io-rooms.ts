import type { INestApplicationContext } from '@nestjs/common';
import { RecentRemovals } from '../rooms/recent-removals.js';
import {
  WS_TICKET_JOIN_EVENT,
  WS_TICKET_LEAVE_EVENT,
  WS_TICKET_LEFT_EVENT,
} from '../rooms/room-events.js';
import type { JoinRate, RoomMember, RoomSocket } from '../rooms/room-joins.js';
import { isClientRoom } from '../rooms/room-name.js';
import type { WsTicketRoomAck, WsTicketRoomCheck, WsTicketRoomLeft } from '../rooms/rooms.types.js';
import { roomsInternals, type WsTicketRooms } from '../rooms/ws-ticket-rooms.js';
import { WsTicketErrorCode } from '../ws-ticket.errors.js';
import type { WsTicketIoServer, WsTicketIoSocket } from '../ws-ticket-io.adapter.js';
import { type WsTicketSocketData, wsTicketUserRoom } from '../ws-ticket-session.js';
import { CODE_FORMAT } from './code-format.js';
import { findRooms } from './require-service.js';
import { spansInstances } from './socket-io.js';

type Server = WsTicketIoServer;
type Socket = WsTicketIoSocket;

/** Server-side event (through `serverSideEmit`) carrying `removeFromRoom` to the other instances. */
const ROOM_LEAVE_EVENT = 'ws-ticket:room-leave';

const NO_ROOMS: WsTicketRoomAck = { ok: false, room: null, code: WsTicketErrorCode.ROOM_FORBIDDEN };

/**
 * The rooms of `WsTicketIoAdapter`'s sockets: `ws-ticket:join` / `ws-ticket:leave` requests
 * (decided by `WsTicketRooms`' rules), the re-checks after a refresh or a recovery, and what
 * `WsTicketRooms` does to Socket.IO rooms (removals, messages, membership) on this server and,
 * through the Socket.IO adapter's `serverSideEmit`, on the other instances.
 */
export class IoRooms {
  private provider: WsTicketRooms | null | undefined;
  private readonly members = new WeakMap<Socket, RoomMember>();
  /** Removals of the recovery window, for the sockets that were away (Socket.IO gives rooms back). */
  private readonly removals = new RecentRemovals();
  /** Join attempts by physical connection (its namespace sockets share one window). */
  private readonly rates = new WeakMap<Socket['conn'], JoinRate>();
  /**
   * `ws-ticket:left` of sockets still in the middlewares: with connection-state recovery on, an
   * emit to a socket goes through its id room, which reaches connected sockets only.
   */
  private readonly undelivered = new WeakMap<Socket, WsTicketRoomLeft[]>();

  constructor(private readonly app: () => INestApplicationContext) {}

  /** Registers the server with the rooms; returns what unregisters it. */
  listen(server: Server): () => void {
    const rooms = this.rooms();
    if (!rooms) return () => {};
    const events = server.sockets as unknown as NodeJS.EventEmitter;
    events.on(ROOM_LEAVE_EVENT, (userId: unknown, room: unknown, code: unknown) => {
      if (typeof userId !== 'string' || !isClientRoom(room) || !isCode(code)) return;
      roomsInternals(rooms).joins.voidPending(userId, room, code);
      this.removeHere(server, userId, room, code);
    });
    return roomsInternals(rooms).register({
      // Socket.IO reaches other instances through its own adapter (or not at all: then neither
      // do its broadcasts); the module's channel is not for its sockets.
      spansInstances: true,
      removeFromRoom: (userId, room, code) => {
        const removed = this.removeHere(server, userId, room, code);
        if (spansInstances(server)) server.serverSideEmit(ROOM_LEAVE_EVENT, userId, room, code);
        return removed;
      },
      emit: (room, event, data) => {
        for (const namespace of server._nsps.values()) namespace.to(room).emit(event, data);
      },
      has: (client, room) => {
        const socket = client as Partial<Socket>;
        if (socket?.nsp?.server !== server || !(socket.rooms instanceof Set)) return undefined;
        return socket.rooms.has(room);
      },
    });
  }

  /** Answers a `ws-ticket:join` or `ws-ticket:leave` packet (`[event, payload?, ack?]`). */
  request(socket: Socket, event: unknown[]): void {
    const last = event[event.length - 1];
    const ack = event.length > 1 && typeof last === 'function' ? last : undefined;
    const payload = ack && event.length === 2 ? undefined : event[1];
    const reply = (answer: WsTicketRoomAck) => {
      if (socket.connected) ack?.(answer);
    };
    const rooms = this.rooms();
    if (!rooms) {
      reply(NO_ROOMS);
      return;
    }
    const { joins } = roomsInternals(rooms);
    if (event[0] === WS_TICKET_LEAVE_EVENT) {
      reply(joins.leave(this.socketOf(socket), this.members.get(socket), payload));
    } else if (event[0] === WS_TICKET_JOIN_EVENT) {
      void joins.join(this.socketOf(socket), this.memberOf(socket, rooms), payload).then(reply);
    }
  }

  /**
   * Re-checks the rooms the socket joined on request; those refused are left with `ws-ticket:left`.
   * Resolves every room it lost meanwhile, refused or removed.
   */
  async recheck(socket: Socket, reason: WsTicketRoomCheck): Promise<string[]> {
    const rooms = this.rooms();
    if (!rooms) return [];
    const member = reason === 'recovery' ? this.memberOf(socket, rooms) : this.members.get(socket);
    if (!member) return [];
    const had = [...member.joined];
    const { joins } = roomsInternals(rooms);
    const lost: string[] = [];
    if (reason === 'recovery') {
      // Removed while it was away: out, however it had joined (no rule speaks for the server's).
      const userId = (socket.data as Partial<WsTicketSocketData>).userId ?? '';
      for (const room of [...socket.rooms]) {
        const code = isClientRoom(room) ? this.removals.removal(userId, room) : undefined;
        if (code && joins.remove(this.socketOf(socket), member, room, code, true)) lost.push(room);
      }
    }
    await joins.recheck(this.socketOf(socket), member, reason);
    return [...lost, ...had.filter((room) => !member.joined.has(room) && !lost.includes(room))];
  }

  /** The socket connected: what it was told while in the middlewares is sent now. */
  connected(socket: Socket): void {
    const held = this.undelivered.get(socket);
    this.undelivered.delete(socket);
    for (const left of held ?? []) socket.emit(WS_TICKET_LEFT_EVENT, left);
  }

  private removeHere(server: Server, userId: string, room: string, code: string): number {
    const rooms = this.rooms();
    if (!rooms) return 0;
    const { joins } = roomsInternals(rooms);
    const userRoom = wsTicketUserRoom(userId);
    const window = recoveryWindow(server);
    if (window > 0) this.removals.record(userId, room, code, window);
    let removed = 0;
    for (const namespace of server._nsps.values()) {
      const members = namespace.adapter.rooms.get(room);
      if (!members) continue;
      // Sockets still in the middlewares too (a recovered one is back in its rooms already).
      const connecting = (namespace as unknown as { _preConnectSockets?: Map<string, Socket> })
        ._preConnectSockets;
      for (const id of namespace.adapter.rooms.get(userRoom) ?? []) {
        const socket = namespace.sockets.get(id) ?? connecting?.get(id);
        if (!socket || !members.has(id)) continue;
        // Joined on request or by the server: out either way.
        if (joins.remove(this.socketOf(socket), this.members.get(socket), room, code, true)) {
          removed += 1;
        }
      }
    }
    return removed;
  }

  private memberOf(socket: Socket, rooms: WsTicketRooms): RoomMember {
    let member = this.members.get(socket);
    if (member) return member;
    const data = socket.data as Partial<WsTicketSocketData>;
    // A recovered socket comes back with the list (socket.data survives recovery).
    const kept = Array.isArray(data.wsTicketRooms) ? data.wsTicketRooms.filter(isClientRoom) : [];
    // Attempts count per connection: leaving and re-entering a namespace starts no new window.
    let rate = this.rates.get(socket.conn);
    if (!rate) {
      rate = { attempts: 0, windowEndsAt: 0 };
      this.rates.set(socket.conn, rate);
    }
    member = roomsInternals(rooms).joins.member(kept, rate);
    // Socket.IO stores `data` with the session when the socket drops: a re-check answered after
    // that must not rewrite it (the recovery checks the stored list again).
    let gone = false;
    socket.once('disconnect', () => {
      gone = true;
    });
    member.onChange = (joined) => {
      if (!gone) data.wsTicketRooms = [...joined];
    };
    this.members.set(socket, member);
    return member;
  }

  private socketOf(socket: Socket): RoomSocket {
    const data = socket.data as Partial<WsTicketSocketData>;
    return {
      get user() {
        return data.user;
      },
      userId: data.userId ?? '',
      transport: 'socket.io',
      namespace: socket.nsp.name,
      isOpen: () => socket.connected,
      enter: (room) => {
        void Promise.resolve(socket.join(room)).catch(() => {});
      },
      exit: (room) => {
        void Promise.resolve(socket.leave(room)).catch(() => {});
      },
      isIn: (room) => socket.rooms.has(room),
      left: (payload) => {
        if (socket.connected) {
          socket.emit(WS_TICKET_LEFT_EVENT, payload);
          return;
        }
        const held = this.undelivered.get(socket) ?? [];
        held.push(payload);
        this.undelivered.set(socket, held);
      },
    };
  }

  private rooms(): WsTicketRooms | undefined {
    if (this.provider === undefined) this.provider = findRooms(this.app()) ?? null;
    return this.provider ?? undefined;
  }
}

function isCode(code: unknown): code is string {
  return typeof code === 'string' && CODE_FORMAT.test(code);
}

/** How long Socket.IO keeps a dropped socket's session (`maxDisconnectionDuration`), in ms; 0: off. */
function recoveryWindow(server: Server): number {
  const options = (server as unknown as { opts?: { connectionStateRecovery?: unknown } }).opts;
  const recovery = options?.connectionStateRecovery as
    | { maxDisconnectionDuration?: unknown }
    | undefined;
  if (!recovery) return 0;
  const window = recovery.maxDisconnectionDuration;
  return typeof window === 'number' && Number.isFinite(window) && window > 0 ? window : 120_000;
}
