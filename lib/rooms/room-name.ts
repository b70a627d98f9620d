import { WsTicketErrorCode } from '../ws-ticket.errors.js';
import { WS_TICKET_EVENT_PREFIX } from '../ws-ticket-session.js';

/** The longest room name, in characters. */
export const ROOM_NAME_MAX = 200;

/** What a room name is made of: letters, digits and `:_.-`, 1 to 200 of them. */
export const ROOM_NAME = /^[A-Za-z0-9:_.-]{1,200}$/;

/**
 * The shape of a Socket.IO socket id (20 characters of base64url): every socket is alone in the
 * room named after its id, on every instance, so a name shaped like one is never anyone's to join.
 */
const SOCKET_ID = /^[A-Za-z0-9_-]{20}$/;

/** A room request read: the room, or the refusal and what to echo. */
export type RoomRequest =
  | { room: string; code?: undefined }
  | {
      room: string | null;
      code: typeof WsTicketErrorCode.ROOM_MALFORMED | typeof WsTicketErrorCode.ROOM_FORBIDDEN;
    };

/**
 * Reads the room of a `ws-ticket:join` or `ws-ticket:leave` payload. Malformed: not an object
 * whose own `room` is a string of {@link ROOM_NAME}. Forbidden: a name of the module's own
 * (`ws-ticket:*`) or shaped like a Socket.IO socket id. Reads nothing but `room`, never throws.
 */
export function readRoomRequest(payload: unknown): RoomRequest {
  let room: unknown;
  try {
    room =
      typeof payload === 'object' && payload !== null && !Array.isArray(payload)
        ? Object.getOwnPropertyDescriptor(payload, 'room')?.value
        : undefined;
  } catch {
    // A Proxy or an exotic object: nothing JSON could have sent.
    room = undefined;
  }
  if (typeof room !== 'string') return { room: null, code: WsTicketErrorCode.ROOM_MALFORMED };
  const echo = room.length <= ROOM_NAME_MAX ? room : null;
  if (!ROOM_NAME.test(room)) return { room: echo, code: WsTicketErrorCode.ROOM_MALFORMED };
  if (isReservedRoom(room)) return { room, code: WsTicketErrorCode.ROOM_FORBIDDEN };
  return { room };
}

/** Whether `room` is a name a client may be in: well formed, neither the module's nor a socket id. */
export function isClientRoom(room: unknown): room is string {
  return typeof room === 'string' && ROOM_NAME.test(room) && !isReservedRoom(room);
}

/** Whether a room is out of every client's reach: the module's own, or a socket's id. */
export function isReservedRoom(room: string): boolean {
  return room.startsWith(WS_TICKET_EVENT_PREFIX) || SOCKET_ID.test(room);
}
