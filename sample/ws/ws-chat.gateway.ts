import { UseGuards } from '@nestjs/common';
import {
  ConnectedSocket,
  MessageBody,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
  type WsResponse,
} from '@nestjs/websockets';
import type { WebSocketServer as WsServer } from 'ws';
import { WsTicketError, WsTicketGuard, WsTicketRooms, WsUser } from '../../lib/index.js';
import type { WsTicketWebSocket } from '../../lib/ws/index.js';
import { isChatText, ROOM_RULE, TEXT_RULE } from '../chat/chat-text.js';
import type { User } from '../users/users.service.js';

/** A refusal of a frame: the raw-WebSocket counterpart of Socket.IO's `exception` event. */
interface ChatException {
  code: 'message_invalid' | 'room_forbidden' | 'store_unavailable';
  message: string;
}

/** The answer to a refused frame (a frame back to the sender: see `message`). */
function refusal(code: ChatException['code'], message: string): WsResponse<ChatException> {
  return { event: 'exception', data: { code, message } };
}

/**
 * Raw WebSocket chat at `/ws/chat` (`npm run sample:ws`). Frames are Nest's `WsAdapter` JSON
 * `{ "event": …, "data": … }`. Every socket here was authenticated at the upgrade by
 * `WsTicketWsAdapter`; the guard makes each handler say so.
 */
@WebSocketGateway({ path: '/ws/chat' })
@UseGuards(WsTicketGuard)
export class WsChatGateway {
  @WebSocketServer() private readonly server!: WsServer;

  constructor(private readonly rooms: WsTicketRooms) {}

  /** `{ "event": "whoami" }` → `{ "event": "whoami", "data": { id, username } }`. */
  @SubscribeMessage('whoami')
  whoami(@WsUser() user: User): WsResponse<User> {
    return { event: 'whoami', data: { id: user.id, username: user.username } };
  }

  /**
   * `{ "event": "message", "data": { text } }` → `{ "event": "message", "data": { from, text } }`
   * to every socket on /ws/chat, the sender included.
   */
  @SubscribeMessage('message')
  message(
    @WsUser() user: User,
    @MessageBody() body: { text?: unknown } | undefined,
  ): WsResponse<ChatException> | undefined {
    const text = body?.text;
    // A thrown WsException never reaches a raw WebSocket client (Nest's filter emits it as a
    // local event), so the refusal is answered as a frame.
    if (!isChatText(text)) return refusal('message_invalid', TEXT_RULE);
    const frame = JSON.stringify({ event: 'message', data: { from: user.username, text } });
    for (const client of this.server.clients as Set<WsTicketWebSocket<User>>) {
      if (client.readyState === client.OPEN && client.data?.user != null) client.send(frame);
    }
    return undefined;
  }

  /**
   * `{ "event": "room-message", "data": { room, text } }` → `{ "event": "room-message", "data":
   * { room, from, text } }` to the room's sockets on every instance (`WsTicketRooms.to`: Nest's
   * `WsAdapter` has no rooms; the module keeps them and crosses instances over its Redis channel),
   * the sender's included. A sender outside the room gets the `exception` frame `room_forbidden`,
   * and nothing is sent.
   */
  @SubscribeMessage('room-message')
  async roomMessage(
    @WsUser() user: User,
    @ConnectedSocket() client: WsTicketWebSocket<User>,
    @MessageBody() body: { room?: unknown; text?: unknown } | undefined,
  ): Promise<WsResponse<ChatException> | undefined> {
    const room = body?.room;
    if (typeof room !== 'string' || !this.rooms.has(client, room)) {
      return refusal('room_forbidden', ROOM_RULE);
    }
    const text = body?.text;
    if (!isChatText(text)) return refusal('message_invalid', TEXT_RULE);
    try {
      await this.rooms.to(room).emit('room-message', { room, from: user.username, text });
    } catch (error) {
      // The local members have it; the other instances could not be told.
      if (!(error instanceof WsTicketError && error.code === 'store_unavailable')) throw error;
      return refusal('store_unavailable', 'The message may not have reached every instance.');
    }
    return undefined;
  }
}
