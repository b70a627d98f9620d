import type { WsTicketRoomCode } from '../ws-ticket.errors.js';

/**
 * The parameters a room pattern names, each a string: `'order:{id}'` gives `{ id: string }`.
 * A pattern only known as `string` gives `Record<string, string>`.
 */
export type WsTicketRoomParams<P extends string> = string extends P
  ? Readonly<Record<string, string>>
  : P extends `${string}{${infer Name}}${infer Rest}`
    ? Readonly<Record<Name, string>> & WsTicketRoomParams<Rest>
    : Readonly<Record<never, string>>;

/** Why a room rule runs. */
export type WsTicketRoomCheck =
  /** The client asked to join (`ws-ticket:join`). */
  | 'join'
  /** The socket's session was refreshed (`ws-ticket:refresh`): its user was resolved again. */
  | 'refresh'
  /** Socket.IO's connection-state recovery brought the socket back with its rooms. */
  | 'recovery';

/** What a room rule learns besides the user and the room's parameters. */
export interface WsTicketRoomContext {
  /** The room asked for, as sent (already checked for its format). */
  readonly room: string;
  /** The user's id (`getUserId`). */
  readonly userId: string;
  /** The transport of the socket. */
  readonly transport: 'socket.io' | 'ws';
  /** The Socket.IO namespace, or the raw WebSocket gateway's path. */
  readonly namespace: string;
  /** Why the rule runs. */
  readonly reason: WsTicketRoomCheck;
}

/**
 * Decides whether a user may be in a room. Only `true` admits; `false`, anything else, a throw
 * (logged with its stack) refuse with `room_forbidden`; no answer within `callbackTimeout` is
 * `room_unavailable`. Runs for every join request, and again for every room the socket joined
 * when its session is refreshed or recovered.
 */
export type WsTicketRoomRule<TUser = unknown, TParams = Readonly<Record<string, string>>> = {
  // A method's parameters are bivariant: options typed for one user type stay assignable to
  // the module's (as `resolveUser` is).
  rule(user: TUser, params: TParams, context: WsTicketRoomContext): boolean | Promise<boolean>;
}['rule'];

/**
 * Rules by room pattern for the `rooms` option: `true` admits every authenticated user,
 * a function decides (`{ lobby: true, 'team:{team}': (user, { team }) => … }`).
 */
export type WsTicketRoomRules<TUser = unknown> = Readonly<
  Record<string, true | WsTicketRoomRule<TUser>>
>;

/** How many join attempts one socket may make (`roomJoinLimit`). */
export interface WsTicketRoomJoinLimit {
  /**
   * Attempts allowed per window, allowed or refused, new or repeated.
   * @default 50
   */
  limit?: number | undefined;
  /**
   * Length of the window, in seconds.
   * @default 10
   */
  window?: number | undefined;
}

/** A refusal code a join or leave request can be answered with. */
export type WsTicketRoomRefusal = Exclude<WsTicketRoomCode, 'room_revoked'> | 'rate_limited';

/**
 * Ack of `ws-ticket:join` and `ws-ticket:leave` (on raw WebSockets: the data of the answering
 * frame). `room` echoes the request's room: `null` when it had none that was a string of at most
 * 200 characters.
 */
export type WsTicketRoomAck =
  | { ok: true; room: string }
  | { ok: false; room: string | null; code: WsTicketRoomRefusal };

/** Payload of `ws-ticket:left`: the room the server took the socket out of, and why. */
export interface WsTicketRoomLeft {
  room: string;
  /**
   * `room_revoked` (or the code given to `removeFromRoom()`), `room_forbidden` (a re-check
   * refused it), `room_unavailable` (a re-check's rule did not answer in time).
   */
  code: string;
}
