import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  type ExecutionContext,
  type INestApplication,
  Injectable,
  Module,
  type ModuleMetadata,
  UseGuards,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { Socket as ServerSocket } from 'socket.io';
import {
  WsTicketGuard,
  WsTicketIoAdapter,
  WsTicketModule,
  type WsTicketSession,
} from '../../lib/index.js';
import { WsTicketWsAdapter } from '../../lib/ws/index.js';
import { ChatTestGateway } from '../fixtures/gateways.js';
import { connectChat, issueTicket } from '../redis/support/http.js';
import { PLATFORMS, type Platform, type StartedApp, startOn } from '../support/app.js';
import { TEST_SECRET } from '../support/jwt.js';
import { connected, next } from '../support/sockets.js';
import { ConnectionLog, EchoWsGateway, ticketModule } from '../ws/fixtures/gateways.js';
import { CaptureLogger, openWs } from '../ws/fixtures/ws-app.js';

/** Bounds every wait of a test (fetch and socket helpers have no bound of their own). */
const BOUNDED = { timeout: 15_000 };

/** What an override's backend says: internal text no client may ever see. */
const INTERNAL = 'connect ECONNREFUSED 10.0.0.5:5432';

/** A stack trace's frame lines, as Nest's logger prints them after the message. */
const STACK = /\n\s+at /;

/** A seat check the app added on top of the ticket, whose database is down. */
async function checkSeat(): Promise<void> {
  throw new Error(INTERNAL);
}

/** The Socket.IO adapter with an app check after the ticket's, as its JSDoc suggests. */
class SeatCheckingIoAdapter extends WsTicketIoAdapter {
  protected override async authenticate(socket: ServerSocket): Promise<WsTicketSession> {
    const session = await super.authenticate(socket);
    await checkSeat();
    return session;
  }
}

/** The raw ws adapter with the same check. */
class SeatCheckingWsAdapter extends WsTicketWsAdapter {
  protected override async authenticate(request: IncomingMessage): Promise<WsTicketSession> {
    const session = await super.authenticate(request);
    await checkSeat();
    return session;
  }
}

/** The guard with the same check, routed through its refusal hook. */
@Injectable()
class SeatCheckingGuard extends WsTicketGuard {
  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const admitted = await super.canActivate(context);
    try {
      await checkSeat();
    } catch (error) {
      this.throwRefusal(error);
    }
    return admitted;
  }
}

@WebSocketGateway({ namespace: '/seats' })
@UseGuards(SeatCheckingGuard)
class SeatsGateway {
  @SubscribeMessage('sit')
  sit(): string {
    return 'seated';
  }
}

/** The log lines of one failure kind (its first line names the kind). */
function linesOf(logger: CaptureLogger, kind: string): string[] {
  return logger.lines.filter((line) => line.startsWith(kind));
}

/** Asserts one log line of the failure kind in the window, with the error's text and stack. */
function assertLoggedOnce(logger: CaptureLogger, kind: string): void {
  const lines = linesOf(logger, kind);
  assert.equal(lines.length, 1, 'the failure was not logged exactly once in the minute');
  assert.ok(lines[0].includes(INTERNAL), lines[0]);
  assert.match(lines[0], STACK);
}

/** A raw ws app on 127.0.0.1, port 0, with the seat-checking adapter. */
async function startSeatCheckingWs(
  metadata: ModuleMetadata,
  platform: Platform,
  logger: CaptureLogger,
): Promise<{ app: INestApplication; url: string; wsUrl: string }> {
  @Module(metadata)
  class SeatCheckingWsModule {}
  const app: INestApplication =
    platform === 'fastify'
      ? await NestFactory.create(SeatCheckingWsModule, new FastifyAdapter(), { logger })
      : await NestFactory.create(SeatCheckingWsModule, { logger });
  app.useWebSocketAdapter(new SeatCheckingWsAdapter(app));
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}` };
}

for (const platform of PLATFORMS) {
  const start = startOn(platform);

  describe(`Errors thrown by overrides reach clients as a code, and the log with a stack [${platform}]`, () => {
    let logger: CaptureLogger;
    let close: () => Promise<void>;

    beforeEach(() => {
      logger = new CaptureLogger();
    });
    afterEach(() => close());

    it(
      'answers a throwing authenticate() override with connect_error store_unavailable on Socket.IO',
      BOUNDED,
      async () => {
        const started: StartedApp = await start(
          {
            imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET } })],
            providers: [ChatTestGateway],
          },
          { adapter: (app) => new SeatCheckingIoAdapter(app), logger },
        );
        close = () => started.close();
        for (const sub of ['kim', 'lou']) {
          const result = await connectChat(started.url, await issueTicket(started.url, sub));
          assert.equal(result.ok, false);
          assert.equal(!result.ok && result.code, 'store_unavailable');
          assert.equal(!result.ok && result.message, 'store_unavailable');
        }
        assertLoggedOnce(logger, 'Socket.IO handshake authentication failed');
      },
    );

    it(
      'answers a throwing authenticate() override with 503 { code: "store_unavailable" } on raw ws',
      BOUNDED,
      async () => {
        const started = await startSeatCheckingWs(
          { imports: [ticketModule()], providers: [EchoWsGateway, ConnectionLog] },
          platform,
          logger,
        );
        close = () => started.app.close();
        for (const sub of ['mia', 'ned']) {
          const uuid = await issueTicket(started.url, sub);
          const outcome = await openWs(`${started.wsUrl}/ws?uuid=${uuid}`);
          assert.equal(!outcome.ok && outcome.status, 503);
          assert.match((!outcome.ok && outcome.contentType) || '', /^application\/json/);
          assert.deepEqual(!outcome.ok && JSON.parse(outcome.body), { code: 'store_unavailable' });
        }
        assertLoggedOnce(logger, 'WebSocket upgrade authentication failed');
      },
    );

    it(
      'answers a guard subclass whose own check throws with an exception store_unavailable',
      BOUNDED,
      async () => {
        const started: StartedApp = await start(
          {
            imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET } })],
            providers: [SeatsGateway],
          },
          { adapter: 'plain', logger },
        );
        close = () => started.close();
        const uuid = await issueTicket(started.url, 'olga');
        const socket = await connected(`${started.url}/seats`, { auth: { uuid } });
        try {
          const exception = next<{ code?: string; message?: string }>(socket, 'exception');
          socket.emit('sit');
          const { code, message } = await exception;
          assert.equal(code, 'store_unavailable');
          assert.ok(!String(message).includes('10.0.0.5'), String(message));
        } finally {
          socket.close();
        }
        assertLoggedOnce(logger, 'WebSocket guard failed');
      },
    );
  });
}
