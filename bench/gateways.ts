import { UseGuards } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import {
  ConnectedSocket,
  type OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
  type WsResponse,
} from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import { WsTicketGuard, WsUser } from '../lib/index.js';
import { NAMESPACE } from './constants.js';

/** (a) The ceiling: a gateway behind Nest's plain IoAdapter, no authentication at all. */
@WebSocketGateway({ namespace: NAMESPACE })
export class BareChatGateway {
  @SubscribeMessage('whoami')
  whoami(@ConnectedSocket() socket: Socket): unknown {
    return socket.data.user ?? null;
  }
}

/**
 * (b) The common peer approach: the JWT itself rides in the handshake `auth` payload and a
 * namespace middleware verifies it with `JwtService.verify` (HS256).
 */
@WebSocketGateway({ namespace: NAMESPACE })
export class JwtChatGateway implements OnGatewayInit {
  constructor(private readonly jwt: JwtService) {}

  afterInit(namespace: Namespace): void {
    namespace.use((socket, next) => {
      try {
        const token: unknown = socket.handshake.auth?.token;
        if (typeof token !== 'string') throw new Error('no token');
        socket.data.user = this.jwt.verify(token, { algorithms: ['HS256'] });
        next();
      } catch {
        next(new Error('unauthorized'));
      }
    });
  }

  @SubscribeMessage('whoami')
  whoami(@ConnectedSocket() socket: Socket): unknown {
    return socket.data.user ?? null;
  }
}

/** (c)/(d) nestjs-ws-ticket: WsTicketIoAdapter authenticates the handshake, the guard the handlers. */
@WebSocketGateway({ namespace: NAMESPACE })
@UseGuards(WsTicketGuard)
export class TicketChatGateway {
  /** What the bench's drain hook watches (bench/bench.controller.ts `CapController`). */
  @WebSocketServer() readonly namespace!: Namespace;

  @SubscribeMessage('whoami')
  whoami(@WsUser() user: unknown): unknown {
    return user;
  }
}

/** `ticket-ws`: the same gateway on raw WebSocket (`WsTicketWsAdapter`, path `/chat`). */
@WebSocketGateway({ path: NAMESPACE })
@UseGuards(WsTicketGuard)
export class TicketWsChatGateway {
  @SubscribeMessage('whoami')
  whoami(@WsUser() user: unknown): WsResponse<unknown> {
    return { event: 'whoami', data: user };
  }
}
