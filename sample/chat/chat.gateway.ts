import { UseGuards } from '@nestjs/common';
import {
  MessageBody,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
  WsException,
} from '@nestjs/websockets';
import type { Namespace } from 'socket.io';
import { WsTicketGuard, WsUser } from '../../lib/index.js';
import type { User } from '../users/users.service.js';

const MAX_TEXT = 2000;

@WebSocketGateway({ namespace: '/chat' })
@UseGuards(WsTicketGuard)
export class ChatGateway {
  @WebSocketServer() private readonly namespace!: Namespace;

  @SubscribeMessage('whoami')
  whoami(@WsUser() user: User): User {
    return { id: user.id, username: user.username };
  }

  /** Broadcasts `{ from, text }` to every socket in /chat, the sender included. */
  @SubscribeMessage('message')
  message(@WsUser() user: User, @MessageBody() body: { text?: unknown }): void {
    const text = body?.text;
    if (typeof text !== 'string' || text.trim() === '' || text.length > MAX_TEXT) {
      throw new WsException({
        code: 'message_invalid',
        message: `text must be 1-${MAX_TEXT} characters`,
      });
    }
    this.namespace.emit('message', { from: user.username, text });
  }
}
