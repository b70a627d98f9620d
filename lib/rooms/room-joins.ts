import { WsTicketErrorCode } from '../ws-ticket.errors.js';
import { readRoomRequest } from './room-name.js';
import type { RoomRules } from './room-rules.js';
import type { WsTicketRoomAck, WsTicketRoomCheck, WsTicketRoomLeft } from './rooms.types.js';

/** What a transport lends the join logic for one socket. */
export interface RoomSocket {
  /** The socket's user as it is now (a refresh replaces it). */
  readonly user: unknown;
  readonly userId: string;
  readonly transport: 'socket.io' | 'ws';
  readonly namespace: string;
  /** Whether the socket is still connected (an answer for a gone one joins nothing). */
  isOpen(): boolean;
  /** Puts the socket in the transport's room. */
  enter(room: string): void;
  /** Takes the socket out of the transport's room. */
  exit(room: string): void;
  /** Whether the socket is in the transport's room now (the server may have joined it). */
  isIn(room: string): boolean;
  /** Sends `ws-ticket:left`. */
  left(payload: WsTicketRoomLeft): void;
}

/** Join attempts in the current window: per physical connection (re-entering a namespace keeps it). */
export interface JoinRate {
  attempts: number;
  windowEndsAt: number;
}

/** A socket's rooms joined through `ws-ticket:join`, its joins in flight and its attempt window. */
export interface RoomMember {
  readonly joined: Set<string>;
  readonly pending: Set<PendingJoin>;
  readonly rate: JoinRate;
  /** Called after each change of `joined` (Socket.IO keeps a copy in `socket.data`). */
  onChange?: ((joined: ReadonlySet<string>) => void) | undefined;
}

/**
 * A join (or a re-check) whose rule is running; a removal of its user from its room, or a leave,
 * voids it, with the removal's code.
 */
interface PendingJoin {
  readonly userId: string;
  readonly room: string;
  voided: string | undefined;
}

/** The bounds of joins, from the module options. */
export interface RoomLimits {
  maxRooms: number;
  joinLimit: number;
  /** Milliseconds. */
  joinWindow: number;
}

/**
 * Joining and leaving on request, the same for both transports: the attempt window first, the
 * name's format, the socket's room cap, then the rules; and what takes sockets out of rooms
 * (a removal, a re-check after a refresh or a recovery). A removal voids the joins of its user and
 * room whose rules are still running, so a join racing it never survives it.
 */
export class RoomJoins {
  /** Joins in flight by user, for removals to void. Emptied as each settles. */
  private readonly pendingByUser = new Map<string, Set<PendingJoin>>();

  constructor(
    private readonly rules: RoomRules,
    private readonly limits: RoomLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** A fresh member for a socket's first room request. */
  member(
    initial: Iterable<string> = [],
    rate: JoinRate = { attempts: 0, windowEndsAt: 0 },
  ): RoomMember {
    return { joined: new Set(initial), pending: new Set(), rate };
  }

  /** Answers a `ws-ticket:join` request. Never throws. */
  async join(socket: RoomSocket, member: RoomMember, payload: unknown): Promise<WsTicketRoomAck> {
    const limited = this.count(member);
    const request = readRoomRequest(payload);
    if (limited) return { ok: false, room: request.room, code: WsTicketErrorCode.RATE_LIMITED };
    if (request.code !== undefined) return { ok: false, room: request.room, code: request.code };
    const { room } = request;
    // In it already, on request or by the server's own join (which a leave must not undo).
    if (member.joined.has(room) || socket.isIn(room)) return { ok: true, room };
    // Joins of one room in flight hold one place.
    const holding = new Set<string>();
    for (const pending of member.pending) holding.add(pending.room);
    if (!holding.has(room) && member.joined.size + holding.size >= this.limits.maxRooms) {
      return { ok: false, room, code: WsTicketErrorCode.ROOM_LIMIT };
    }
    const pending: PendingJoin = { userId: socket.userId, room, voided: undefined };
    this.hold(member, pending);
    let verdict: Awaited<ReturnType<RoomRules['decide']>>;
    try {
      const decide = (user: unknown) =>
        this.rules.decide(user, {
          room,
          userId: socket.userId,
          transport: socket.transport,
          namespace: socket.namespace,
          reason: 'join',
        });
      let user = socket.user;
      verdict = await decide(user);
      // A refresh while the rule ran changed the user: ask again for the one the socket has now
      // (a refresh's re-check only sees rooms already joined). Still changing after two: no.
      for (let again = 0; verdict.ok && socket.user !== user; again++) {
        if (again === 2) {
          verdict = { ok: false, code: WsTicketErrorCode.ROOM_FORBIDDEN };
          break;
        }
        user = socket.user;
        verdict = await decide(user);
      }
    } finally {
      this.release(member, pending);
    }
    if (!verdict.ok) return { ok: false, room, code: verdict.code };
    // Removed while the rule ran, or gone: nothing joins.
    if (pending.voided !== undefined || !socket.isOpen()) {
      return { ok: false, room, code: WsTicketErrorCode.ROOM_FORBIDDEN };
    }
    // The server joined it meanwhile: its join, not the client's.
    if (!member.joined.has(room) && !socket.isIn(room)) {
      member.joined.add(room);
      socket.enter(room);
      member.onChange?.(member.joined);
    }
    return { ok: true, room };
  }

  /** Answers a `ws-ticket:leave` request: only rooms joined on request are left. Never throws. */
  leave(socket: RoomSocket, member: RoomMember | undefined, payload: unknown): WsTicketRoomAck {
    const request = readRoomRequest(payload);
    if (request.code !== undefined) return { ok: false, room: request.room, code: request.code };
    const { room } = request;
    // Its joins in flight too: a leave says "not in it", whatever answers first.
    voidRoom(member, room, WsTicketErrorCode.ROOM_FORBIDDEN);
    if (member?.joined.delete(room)) {
      socket.exit(room);
      member.onChange?.(member.joined);
    }
    return { ok: true, room };
  }

  /**
   * Voids the user's joins of `room` still in flight on this instance: a removal made while their
   * rule ran must win over its answer.
   */
  voidPending(userId: string, room: string, code: string): void {
    for (const pending of this.pendingByUser.get(userId) ?? []) {
      if (pending.room === room) pending.voided ??= code;
    }
  }

  /**
   * Takes a socket out of a room it joined on request (or, with `present`, one it is in anyway:
   * the server joined it), telling it why; returns whether it was in.
   */
  remove(
    socket: RoomSocket,
    member: RoomMember | undefined,
    room: string,
    code: string,
    present = false,
  ): boolean {
    voidRoom(member, room, code);
    const joined = member?.joined.delete(room) ?? false;
    if (!joined && !present) return false;
    socket.exit(room);
    if (joined) member?.onChange?.(member.joined);
    socket.left({ room, code });
    return true;
  }

  /**
   * Asks the rules again about every room the socket joined on request (its user changed, or it
   * came back), and takes it out of those refused, telling it why. Resolves the rooms left.
   */
  async recheck(
    socket: RoomSocket,
    member: RoomMember | undefined,
    reason: WsTicketRoomCheck,
  ): Promise<string[]> {
    if (!member || member.joined.size === 0) return [];
    const rooms = [...member.joined];
    // Voidable like joins: a removal while the rules run wins over their answers.
    const checks = rooms.map((room) => {
      const pending: PendingJoin = { userId: socket.userId, room, voided: undefined };
      this.hold(member, pending);
      return pending;
    });
    let verdicts: Awaited<ReturnType<RoomRules['decide']>>[];
    try {
      verdicts = await Promise.all(
        rooms.map((room) =>
          this.rules.decide(socket.user, {
            room,
            userId: socket.userId,
            transport: socket.transport,
            namespace: socket.namespace,
            reason,
          }),
        ),
      );
    } finally {
      for (const pending of checks) this.release(member, pending);
    }
    const left: string[] = [];
    rooms.forEach((room, index) => {
      const verdict = verdicts[index];
      const code = checks[index]?.voided ?? (verdict && !verdict.ok ? verdict.code : undefined);
      if (code !== undefined && this.remove(socket, member, room, code)) left.push(room);
    });
    return left;
  }

  /** Joins in flight on this instance (for tests: the index stays this small). */
  get pendingCount(): number {
    let count = 0;
    for (const joins of this.pendingByUser.values()) count += joins.size;
    return count;
  }

  /** Counts an attempt; true when it is over the window's limit. */
  private count(member: RoomMember): boolean {
    const now = this.now();
    const { rate } = member;
    if (now >= rate.windowEndsAt) {
      rate.windowEndsAt = now + this.limits.joinWindow;
      rate.attempts = 0;
    }
    rate.attempts += 1;
    return rate.attempts > this.limits.joinLimit;
  }

  private hold(member: RoomMember, pending: PendingJoin): void {
    member.pending.add(pending);
    let joins = this.pendingByUser.get(pending.userId);
    if (!joins) {
      joins = new Set();
      this.pendingByUser.set(pending.userId, joins);
    }
    joins.add(pending);
  }

  private release(member: RoomMember, pending: PendingJoin): void {
    member.pending.delete(pending);
    const joins = this.pendingByUser.get(pending.userId);
    joins?.delete(pending);
    if (joins?.size === 0) this.pendingByUser.delete(pending.userId);
  }
}

/** Voids a member's joins of `room` in flight (the first code counts). */
function voidRoom(member: RoomMember | undefined, room: string, code: string): void {
  for (const pending of member?.pending ?? []) if (pending.room === room) pending.voided ??= code;
}
