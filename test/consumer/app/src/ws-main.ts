// The raw ws adapter from nestjs-ws-ticket/ws: a guarded handler answers over a socket opened with
// a ticket in Sec-WebSocket-Protocol. Prints one JSON line (a report).
import 'reflect-metadata';
import { Module, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { WsTicketGuard, WsTicketModule, WsUser } from 'nestjs-ws-ticket';
import { fetchTicket, ticketProtocols } from 'nestjs-ws-ticket/client';
import { WS_TICKET_CLOSE_CODES, WsTicketWsAdapter } from 'nestjs-ws-ticket/ws';
import { WebSocket } from 'ws';
import { LoginController } from './app.module.js';

@WebSocketGateway({ path: '/raw' })
class RawGateway {
  @UseGuards(WsTicketGuard)
  @SubscribeMessage('whoami')
  whoami(@WsUser('name') name: string): { event: string; data: string } {
    return { event: 'whoami', data: name };
  }
}

@Module({
  imports: [
    JwtModule.register({ secret: process.env.JWT_SECRET ?? '', signOptions: { expiresIn: '5m' } }),
    WsTicketModule.forRoot({ jwt: { secret: process.env.JWT_SECRET } }),
  ],
  controllers: [LoginController],
  providers: [RawGateway],
})
class RawModule {}

const app = await NestFactory.create(RawModule, { logger: ['error', 'warn'] });
app.useWebSocketAdapter(new WsTicketWsAdapter(app, { maxPayload: 64 * 1024 }));
await app.listen(0, '127.0.0.1');
const url = (await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1');
const login = await fetch(`${url}/login`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ name: 'grace' }),
});
const { accessToken } = (await login.json()) as { accessToken: string };
const { uuid } = await fetchTicket({
  ticketUrl: `${url}/auth/ws-ticket`,
  getToken: () => accessToken,
});
const socket = new WebSocket(`${url.replace('http', 'ws')}/raw`, ticketProtocols(uuid));
const name = await new Promise<string>((resolve, reject) => {
  socket.once('error', reject);
  socket.once('open', () => socket.send(JSON.stringify({ event: 'whoami', data: null })));
  socket.once('message', (data) => resolve((JSON.parse(String(data)) as { data: string }).data));
});
socket.close();
await app.close();
process.stdout.write(
  `${JSON.stringify({ name, expired: WS_TICKET_CLOSE_CODES.session_expired })}\n`,
);
