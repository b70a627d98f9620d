// What the rooms section's processes say to each other: the server child's spec and hooks
// (bench/rooms-server.ts), the client children's commands (bench/rooms-clients.ts).
import type { HoldCommand } from './scale-wire.js';

/**
 * Which server a rooms child runs: a bare gateway on Nest's `IoAdapter` or `WsAdapter` that joins
 * whatever room a client names (Socket.IO's `socket.join`, or a Map of Sets for raw ws), or the
 * module's adapter with room rules (`ws-ticket:join`).
 */
export type RoomsVariant = 'io-bare' | 'io-ticket' | 'ws-bare' | 'ws-ticket';

export interface RoomsServerSpec {
  variant: RoomsVariant;
}

/** The event of a bare gateway's join handler (`{ room }` → ack `{ ok: true, room }`). */
export const BARE_JOIN_EVENT = 'join';

/** The event every fan-out row sends, with a {@link Tick}. */
export const TICK_EVENT = 'tick';

/** The room every fan-out socket joins; the module's servers admit it through the `rooms` option. */
export const FANOUT_ROOM = 'lobby';

/**
 * Orders the module servers' `order:{id}` rule answers about, from an in-memory map: ids 0 …
 * ORDERS − 2 are open to every user, the last one is its owner's only (bench user ORDERS − 1).
 */
export const ORDERS = 10_000;

/** The fan-out message: its number, when the server called emit, and some text. */
export interface Tick {
  seq: number;
  /** Epoch milliseconds (`performance.timeOrigin + performance.now()`) right before the call. */
  sent: number;
  text: string;
}

/**
 * How a server sends a fan-out message: `server` Socket.IO's `namespace.to(room).emit`, `module`
 * `WsTicketRooms.to(room).emit`, `loop` a hand loop sending one prepared frame to the room's raw
 * sockets (the bare gateway's registry, or every client of the module's gateway).
 */
export type EmitVia = 'server' | 'module' | 'loop';

/** What `POST /bench/rooms/emit` answers. */
export interface EmitReply {
  /** Milliseconds from the call to its return (the promise's settling, for `module`). */
  callMs: number;
  /** The server's CPU time (user + system) over the call, microseconds. */
  cpu: number;
}

/** What the rooms hooks answer (`/bench/rooms/stats`, and `/bench/rooms/snapshot` with its file). */
export interface RoomsStats {
  /** Sockets open on the gateway. */
  sockets: number;
  /** Sockets in {@link FANOUT_ROOM}, or the room asked for. */
  members: number;
  heapUsed: number;
  /** `process.cpuUsage()` user + system, microseconds. */
  cpu: number;
}

/** What `POST /bench/rooms/snapshot` answers: the snapshot's file, and the stats right after it. */
export interface RoomsSnapshot extends RoomsStats {
  path: string;
}

/** Sockets a client child holds, by set (a row's sockets). */
export type HoldSetCommand = Omit<HoldCommand, 'op'> & { op: 'hold'; set: string };

/**
 * Joins: socket `i` of a set (in the order it opened) joins rooms `j` = `from` … `from + count - 1`,
 * one after the other, each waiting for its ack; the sockets run side by side, at most
 * `concurrency` of them at once. Room `j` of socket `i` is {@link roomOf}.
 */
export interface JoinCommand {
  op: 'join';
  set: string;
  /** `module`: `ws-ticket:join`; `bare`: the bare gateway's join event. */
  via: 'module' | 'bare';
  from: number;
  count: number;
  rooms: RoomPlan;
  concurrency: number;
}

/**
 * Which rooms the sockets of a set join: `${prefix}${((first + i) * stride + j) % modulo}` for
 * join `j` of socket `i`, or `prefix` alone without a modulo.
 */
export interface RoomPlan {
  prefix: string;
  /** The set's first socket's number among every client child's sockets of the row. */
  first?: number;
  stride?: number;
  modulo?: number;
}

/** Room `j` of socket `i` of a set (see {@link RoomPlan}). */
export function roomOf(plan: RoomPlan, i: number, j: number): string {
  if (plan.modulo === undefined) return plan.prefix;
  return `${plan.prefix}${(((plan.first ?? 0) + i) * (plan.stride ?? 0) + j) % plan.modulo}`;
}

/** What a `join` command did. */
export interface JoinReply {
  joined: number;
  failed: number;
  /** The first refusal or error, if any. */
  error?: string;
  /** Milliseconds from the first join sent to the last ack. */
  elapsedMs: number;
  /** Each join's emit → ack, milliseconds. */
  latencies: number[];
}

/** What a `collect` command answers: the set's receipts of one fan-out message. */
export interface CollectReply {
  received: number;
  /** Latest receipt minus the message's `sent`, milliseconds (−1 when none arrived). */
  last: number;
}

export type RoomsClientCommand =
  | HoldSetCommand
  | JoinCommand
  /** Every socket of the set starts recording its {@link TICK_EVENT} receipts. */
  | { op: 'watch'; set: string }
  /** Waits until every socket of the set got message `seq` (at most `timeoutMs`). */
  | { op: 'collect'; set: string; seq: number; timeoutMs: number }
  /** Closes the set's sockets, or those after the first `keep`. */
  | { op: 'release'; set: string; keep?: number };
