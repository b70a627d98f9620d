import { UseGuards } from '@nestjs/common';
import {
  ConnectedSocket,
  MessageBody,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
  WsException,
} from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import { WsTicketGuard, WsTicketRooms, WsUser } from '../../lib/index.js';
import type { User } from '../users/users.service.js';
import { isChatText, ROOM_RULE, TEXT_RULE } from './chat-text.js';

@WebSocketGateway({ namespace: '/chat' })
@UseGuards(WsTicketGuard)
export class ChatGateway {
  @WebSocketServer() private readonly namespace!: Namespace;

  constructor(private readonly rooms: WsTicketRooms) {}

  @SubscribeMessage('whoami')
  whoami(@WsUser() user: User): User {
    return { id: user.id, username: user.username };
  }

  /** Broadcasts `{ from, text }` to every socket in /chat, the sender included. */
  @SubscribeMessage('message')
  message(@WsUser() user: User, @MessageBody() body: { text?: unknown }): void {
    const text = body?.text;
    if (!isChatText(text)) throw new WsException({ code: 'message_invalid', message: TEXT_RULE });
    this.namespace.emit('message', { from: user.username, text });
  }

  /**
   * `room-message` `{ room, text }` → `room-message` `{ room, from, text }` to the room's sockets in
   * /chat on every instance, the sender's included. A sender outside the room (never joined, left,
   * or taken out) is refused with `room_forbidden`, and nothing is sent.
   *
   * Sent through the namespace, not `WsTicketRooms.to(room)`: Socket.IO rooms belong to a
   * namespace, and `rooms.to()` reaches every namespace the adapter guards, so a socket of
   * /notifications that joined a room of the same name would get chat events it never asked
   * for. The namespace's `to(room)` reaches the other instances through the sample's Redis
   * adapter (REDIS_URL, REDIS_CLUSTER_NODES) like every other /chat broadcast.
   */
  @SubscribeMessage('room-message')
  roomMessage(
    @WsUser() user: User,
    @ConnectedSocket() socket: Socket,
    @MessageBody() body: { room?: unknown; text?: unknown },
  ): void {
    const room = body?.room;
    if (typeof room !== 'string' || !this.rooms.has(socket, room)) {
      throw new WsException({ code: 'room_forbidden', message: ROOM_RULE });
    }
    const text = body.text;
    if (!isChatText(text)) throw new WsException({ code: 'message_invalid', message: TEXT_RULE });
    this.namespace.to(room).emit('room-message', { room, from: user.username, text });
  }
}
