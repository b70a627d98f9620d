export * from './room-events.js';
export { ROOM_NAME, ROOM_NAME_MAX } from './room-name.js';
export type * from './rooms.options.js';
export type * from './rooms.types.js';
export {
  DEFAULT_MAX_ROOMS_PER_SOCKET,
  DEFAULT_ROOM_JOIN_LIMIT,
  DEFAULT_ROOM_JOIN_WINDOW,
} from './rooms-config.js';
export { WsTicketRoom } from './ws-ticket-room.decorator.js';
export { type WsTicketRoomEmitter, WsTicketRooms } from './ws-ticket-rooms.js';
