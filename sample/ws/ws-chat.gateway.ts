import { UseGuards } from '@nestjs/common';
import {
  MessageBody,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
  type WsResponse,
} from '@nestjs/websockets';
import type { WebSocketServer as WsServer } from 'ws';
import { WsTicketGuard, WsUser } from '../../lib/index.js';
import type { WsTicketWebSocket } from '../../lib/ws/index.js';
import type { User } from '../users/users.service.js';

const MAX_TEXT = 2000;

/** A refusal of a frame: the raw-WebSocket counterpart of Socket.IO's `exception` event. */
interface ChatException {
  code: 'message_invalid';
  message: string;
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
    if (typeof text !== 'string' || text.trim() === '' || text.length > MAX_TEXT) {
      // A thrown WsException never reaches a raw WebSocket client (Nest's filter emits it as a
      // local event), so the refusal is answered as a frame.
      return {
        event: 'exception',
        data: { code: 'message_invalid', message: `text must be 1-${MAX_TEXT} characters` },
      };
    }
    const frame = JSON.stringify({ event: 'message', data: { from: user.username, text } });
    for (const client of this.server.clients as Set<WsTicketWebSocket<User>>) {
      if (client.readyState === client.OPEN && client.data?.user != null) client.send(frame);
    }
    return undefined;
  }
}
