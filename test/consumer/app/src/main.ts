// Starts the app on port 0, logs in, connects through nestjs-ws-ticket/client and asks a guarded
// handler who it is. Imports only the main entry and the client: it must run without
// @nestjs/platform-ws. Prints one JSON line (a report); exits non-zero on any failure.
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { WsTicketIoAdapter } from 'nestjs-ws-ticket';
import { attachTicketAuth } from 'nestjs-ws-ticket/client';
import { io, type Socket } from 'socket.io-client';
import { AppModule, type User } from './app.module.js';

async function platformWsInstalled(): Promise<boolean> {
  try {
    await import('@nestjs/platform-ws' as string);
    return true;
  } catch {
    return false;
  }
}

function connected(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', (error) => reject(error));
  });
}

const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
app.useWebSocketAdapter(new WsTicketIoAdapter(app));
await app.listen(0, '127.0.0.1');
const url = (await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1');

const login = await fetch(`${url}/login`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ name: 'ada' }),
});
const { accessToken } = (await login.json()) as { accessToken: string };

// Without a ticket the handshake is refused.
const bare = io(`${url}/chat`, { transports: ['websocket'], reconnection: false });
const refused = await connected(bare).then(
  () => 'connected',
  (error: Error) => error.message,
);
bare.close();

const socket = io(`${url}/chat`, {
  transports: ['websocket'],
  autoConnect: false,
  reconnection: false,
});
attachTicketAuth(socket, { ticketUrl: `${url}/auth/ws-ticket`, getToken: () => accessToken });
socket.connect();
await connected(socket);
const me = (await socket.timeout(5000).emitWithAck('whoami')) as User;
socket.close();
await app.close();

process.stdout.write(
  `${JSON.stringify({ login: login.status, refused, me, platformWs: await platformWsInstalled() })}\n`,
);
