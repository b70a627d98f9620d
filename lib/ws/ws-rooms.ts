import type { INestApplicationContext } from '@nestjs/common';
import type { WebSocket } from 'ws';
import { findRooms } from '../internal/require-service.js';
import {
  WS_TICKET_JOIN_EVENT,
  WS_TICKET_LEAVE_EVENT,
  WS_TICKET_LEFT_EVENT,
} from '../rooms/room-events.js';
import type { RoomMember, RoomSocket } from '../rooms/room-joins.js';
import type { WsTicketRoomAck, WsTicketRoomCheck } from '../rooms/rooms.types.js';
import { roomsInternals, type WsTicketRooms } from '../rooms/ws-ticket-rooms.js';
import { WsTicketErrorCode } from '../ws-ticket.errors.js';
import type { WsTicketSocketData } from '../ws-ticket-session.js';

type Client = WebSocket & { data?: Partial<WsTicketSocketData> };

/** What the adapter lends {@link WsRooms}. */
export interface WsRoomsHooks {
  /** The open sockets of a user on this adapter. */
  socketsOf(userId: string): WebSocket[];
  /** The gateway path a socket connected to. */
  pathOf(client: WebSocket): string;
}

/**
 * Rooms for raw WebSockets, which Nest's `WsAdapter` has none of: the members of each room on
 * this process, the `ws-ticket:join` / `ws-ticket:leave` frames (decided by `WsTicketRooms`' rules),
 * the re-check after a refresh, and what `WsTicketRooms` does to them (removals, messages,
 * membership). Other instances are reached by `WsTicketRooms` over the store's channel.
 */
export class WsRooms {
  private provider: WsTicketRooms | null | undefined;
  private readonly members = new WeakMap<WebSocket, RoomMember>();
  /** Each room's sockets on this process; a room goes with its last member. */
  private readonly rooms = new Map<string, Set<WebSocket>>();

  constructor(
    private readonly app: () => INestApplicationContext,
    private readonly hooks: WsRoomsHooks,
  ) {}

  /** Registers with the rooms; returns what unregisters. */
  listen(): () => void {
    const rooms = this.find();
    if (!rooms) return () => {};
    return roomsInternals(rooms).register({
      spansInstances: false,
      removeFromRoom: (userId, room, code) => this.removeHere(userId, room, code),
      emit: (room, event, data) => this.emitHere(room, event, data),
      has: (client, room) =>
        this.members.has(client as WebSocket) || this.isOurs(client)
          ? (this.members.get(client as WebSocket)?.joined.has(room) ?? false)
          : undefined,
    });
  }

  /** Answers a `ws-ticket:join` or `ws-ticket:leave` frame with a frame of the same event. */
  request(client: WebSocket, event: string, payload: unknown): void {
    const reply = (answer: WsTicketRoomAck) => send(client, event, answer);
    const rooms = this.find();
    if (!rooms) {
      reply({ ok: false, room: null, code: WsTicketErrorCode.ROOM_FORBIDDEN });
      return;
    }
    const { joins } = roomsInternals(rooms);
    if (event === WS_TICKET_LEAVE_EVENT) {
      reply(joins.leave(this.socketOf(client), this.members.get(client), payload));
    } else if (event === WS_TICKET_JOIN_EVENT) {
      void joins.join(this.socketOf(client), this.memberOf(client, rooms), payload).then(reply);
    }
  }

  /** Re-checks the rooms the socket joined; those refused are left with `ws-ticket:left`. */
  async recheck(client: WebSocket, reason: WsTicketRoomCheck): Promise<string[]> {
    const rooms = this.find();
    if (!rooms) return [];
    return roomsInternals(rooms).joins.recheck(
      this.socketOf(client),
      this.members.get(client),
      reason,
    );
  }

  /** Forgets a closed socket's rooms. */
  closed(client: WebSocket): void {
    const member = this.members.get(client);
    if (!member) return;
    this.members.delete(client);
    for (const room of member.joined) this.exit(client, room);
    member.joined.clear();
  }

  /** Rooms with members on this process (for tests: the registry stays this small). */
  get size(): number {
    return this.rooms.size;
  }

  private removeHere(userId: string, room: string, code: string): number {
    const rooms = this.find();
    if (!rooms) return 0;
    const { joins } = roomsInternals(rooms);
    let removed = 0;
    for (const client of this.hooks.socketsOf(userId)) {
      if (joins.remove(this.socketOf(client), this.members.get(client), room, code)) removed += 1;
    }
    return removed;
  }

  private emitHere(room: string, event: string, data: unknown): void {
    const members = this.rooms.get(room);
    if (!members) return;
    const frame = JSON.stringify({ event, data });
    for (const client of members) if (client.readyState === client.OPEN) client.send(frame);
  }

  private memberOf(client: WebSocket, rooms: WsTicketRooms): RoomMember {
    let member = this.members.get(client);
    if (!member) {
      member = roomsInternals(rooms).joins.member();
      this.members.set(client, member);
    }
    return member;
  }

  private socketOf(client: Client): RoomSocket {
    return {
      get user() {
        return client.data?.user;
      },
      userId: client.data?.userId ?? '',
      transport: 'ws',
      namespace: this.hooks.pathOf(client),
      isOpen: () => client.readyState === client.OPEN,
      enter: (room) => {
        let members = this.rooms.get(room);
        if (!members) {
          members = new Set();
          this.rooms.set(room, members);
        }
        members.add(client);
      },
      exit: (room) => this.exit(client, room),
      isIn: (room) => this.rooms.get(room)?.has(client) === true,
      left: (payload) => send(client, WS_TICKET_LEFT_EVENT, payload),
    };
  }

  private exit(client: WebSocket, room: string): void {
    const members = this.rooms.get(room);
    members?.delete(client);
    if (members?.size === 0) this.rooms.delete(room);
  }

  private isOurs(client: unknown): boolean {
    const data = (client as Client | null)?.data;
    return (
      typeof data === 'object' &&
      data !== null &&
      typeof data.userId === 'string' &&
      this.hooks.socketsOf(data.userId).includes(client as WebSocket)
    );
  }

  private find(): WsTicketRooms | undefined {
    if (this.provider === undefined) this.provider = findRooms(this.app()) ?? null;
    return this.provider ?? undefined;
  }
}

function send(client: WebSocket, event: string, data: unknown): void {
  if (client.readyState === client.OPEN) client.send(JSON.stringify({ event, data }));
}
