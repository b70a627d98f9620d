import { UseGuards } from '@nestjs/common';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { WsTicketGuard, WsUser } from '../../lib/index.js';
import type { User } from '../users/users.service.js';

@WebSocketGateway({ namespace: '/notifications' })
@UseGuards(WsTicketGuard)
export class NotificationsGateway {
  @SubscribeMessage('whoami')
  whoami(@WsUser() user: User): User {
    return { id: user.id, username: user.username };
  }
}
