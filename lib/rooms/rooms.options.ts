import type { WsTicketRoomJoinLimit, WsTicketRoomRules } from './rooms.types.js';

/** The module options of room authorization (`ws-ticket:join`); part of `WsTicketModuleOptions`. */
export interface WsTicketRoomOptions<TUser = unknown> {
  /**
   * Room rules by pattern, for simple static rules beside (or instead of) `@WsTicketRoom()`
   * methods: `{ lobby: true, 'team:{team}': (user, { team }) => user.teams.includes(team) }`.
   * `true` admits every authenticated user. A room no rule matches is refused (`room_forbidden`);
   * one pattern may have one rule only, here or in a decorator (a startup error otherwise).
   * @default {} (no rooms: every join is refused)
   */
  rooms?: WsTicketRoomRules<TUser> | undefined;
  /**
   * The most rooms one socket may hold through `ws-ticket:join` (joins in flight count); one more
   * is refused with `room_limit`. Rooms the server joins it to (`socket.join()`) do not count.
   * @default 100
   */
  maxRoomsPerSocket?: number | undefined;
  /**
   * Join attempts allowed per connection and window (a Socket.IO connection's namespace sockets
   * share it: leaving and entering a namespace again starts no new window): every `ws-ticket:join` counts, allowed or
   * refused, new or repeated; one more is refused with `rate_limited` before anything else runs.
   * @default { limit: 50, window: 10 } (50 attempts per 10 seconds)
   */
  roomJoinLimit?: WsTicketRoomJoinLimit | undefined;
}
