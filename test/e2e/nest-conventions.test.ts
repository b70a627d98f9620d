import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  Controller,
  type ExecutionContext,
  Get,
  Injectable,
  Module,
  SetMetadata,
} from '@nestjs/common';
import { APP_GUARD, NestFactory, Reflector } from '@nestjs/core';
import { SkipThrottle, ThrottlerGuard, ThrottlerModule } from '@nestjs/throttler';
import {
  WsTicketGuard,
  WsTicketModule,
  type WsTicketModuleOptions,
  type WsTicketOptionsFactory,
  WsTicketService,
} from '../../lib/index.js';
import { ChatTestGateway, NotificationsTestGateway } from '../fixtures/gateways.js';
import {
  PLATFORMS,
  requestTicket,
  type StartedApp,
  startApp,
  startOn,
  ticketFor,
} from '../support/app.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { ask, connected, next } from '../support/sockets.js';
import {
  ConnectionLog,
  EchoWsGateway,
  ticketModule as wsTicketModule,
} from '../ws/fixtures/gateways.js';
import { CaptureLogger, closure, openedWs, startWsApp } from '../ws/fixtures/ws-app.js';

const jwt = { secret: TEST_SECRET };
const alice = signJwt({ sub: '1' });

@Controller('hello')
class HelloController {
  @Get()
  hello(): { hello: string } {
    return { hello: 'world' };
  }
}

describe('disconnectUser() counts what it closed on this instance', () => {
  it('Socket.IO: multiplexed namespaces are one connection, a second connection is another', async () => {
    const started = await startApp({
      imports: [WsTicketModule.forRoot({ jwt })],
      providers: [ChatTestGateway, NotificationsTestGateway],
    });
    try {
      const chat = await connected(`${started.url}/chat`, {
        auth: { uuid: await ticketFor(started.url, alice) },
      });
      // Same Manager: the second namespace rides on the first one's connection.
      const notifications = chat.io.socket('/notifications', {
        auth: { uuid: await ticketFor(started.url, alice) },
      });
      await new Promise<void>((resolve) => notifications.once('connect', () => resolve()));
      const other = await connected(`${started.url}/chat`, {
        auth: { uuid: await ticketFor(started.url, alice) },
        forceNew: true,
      });
      const gone = next(other, 'disconnect');
      const tickets = started.app.get(WsTicketService);
      assert.equal(await tickets.disconnectUser('1'), 2);
      await gone;
      assert.equal(await tickets.disconnectUser('1'), 0);
      chat.close();
      other.close();
    } finally {
      await started.close();
    }
  });

  it('raw WebSocket: every socket of the user, and none of the others', async () => {
    const app = await startWsApp({
      imports: [wsTicketModule()],
      providers: [EchoWsGateway, ConnectionLog],
    });
    try {
      const mine = await Promise.all(
        [1, 2].map(async () => openedWs(`${app.wsUrl}/ws?uuid=${await ticketFor(app.url, alice)}`)),
      );
      const theirs = await openedWs(
        `${app.wsUrl}/ws?uuid=${await ticketFor(app.url, signJwt({ sub: '2' }))}`,
      );
      const closed = mine.map(closure);
      assert.equal(await app.app.get(WsTicketService).disconnectUser('1'), 2);
      assert.deepEqual(
        (await Promise.all(closed)).map((c) => c.code),
        [4003, 4003],
      );
      assert.equal(theirs.readyState, theirs.OPEN);
      theirs.close();
    } finally {
      await app.close();
    }
  });

  it('guard-only: the sockets the guard admitted', async () => {
    const started = await startApp(
      { imports: [WsTicketModule.forRoot({ jwt })], providers: [ChatTestGateway] },
      { adapter: 'plain' },
    );
    try {
      const socket = await connected(`${started.url}/chat`, {
        auth: { uuid: await ticketFor(started.url, alice) },
      });
      await ask(socket, 'whoami');
      const gone = next(socket, 'disconnect');
      assert.equal(await started.app.get(WsTicketService).disconnectUser('1'), 1);
      await gone;
    } finally {
      await started.close();
    }
  });

  it('without a ticket adapter: 0, tickets revoked, and one warning naming the fix', async () => {
    const logger = new CaptureLogger();
    const started = await startApp(
      { imports: [WsTicketModule.forRoot({ jwt })], providers: [ChatTestGateway] },
      { adapter: 'plain', logger },
    );
    try {
      const uuid = await ticketFor(started.url, alice);
      const tickets = started.app.get(WsTicketService);
      assert.equal(await tickets.disconnectUser('1'), 0);
      assert.equal(await tickets.disconnectUser('1'), 0);
      const warnings = logger.lines.filter((line) => line.includes('disconnectUser() closed no'));
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], /useWebSocketAdapter\(new WsTicketIoAdapter\(app\)\)/);
      // The revocation itself happened: the ticket issued before is dead.
      const socket = await connected(`${started.url}/chat`, { auth: { uuid } });
      const exception = next<{ code: string }>(socket, 'exception');
      socket.emit('whoami');
      assert.equal((await exception).code, 'ticket_invalid');
      socket.close();
    } finally {
      await started.close();
    }
  });

  it('in an application context with no gateway at all: 0 and the warning', async () => {
    @Module({ imports: [WsTicketModule.forRoot({ controller: false })] })
    class WorkerModule {}
    const logger = new CaptureLogger();
    const context = await NestFactory.createApplicationContext(WorkerModule, { logger });
    try {
      assert.equal(await context.get(WsTicketService).disconnectUser('1'), 0);
      assert.equal(logger.lines.filter((l) => l.includes('closed no socket')).length, 1);
    } finally {
      await context.close();
    }
  });
});

/** An app-wide auth guard that lets through only what is marked public, as in Nest's docs. */
const IS_PUBLIC = 'isPublic';
const Public = () => SetMetadata(IS_PUBLIC, true);

@Injectable()
class DenyUnlessPublicGuard {
  constructor(private readonly reflector: Reflector) {}
  canActivate(context: ExecutionContext): boolean {
    return (
      this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [
        context.getHandler(),
        context.getClass(),
      ]) === true
    );
  }
}

@Controller('open')
@Public()
class OpenController {
  @Get()
  open(): { open: true } {
    return { open: true };
  }
}

for (const platform of PLATFORMS) {
  describe(`WsTicketGuard as APP_GUARD (${platform})`, () => {
    let started: StartedApp;
    before(async () => {
      started = await startOn(platform)({
        imports: [WsTicketModule.forRoot({ jwt })],
        controllers: [HelloController],
        providers: [ChatTestGateway, { provide: APP_GUARD, useClass: WsTicketGuard }],
      });
    });
    after(() => started.close());

    it('lets HTTP routes through, the ticket endpoint included', async () => {
      const hello = await fetch(`${started.url}/hello`);
      assert.equal(hello.status, 200);
      assert.deepEqual(await hello.json(), { hello: 'world' });
      assert.equal((await requestTicket(started.url, alice)).status, 201);
    });

    it('still guards gateway handlers', async () => {
      const socket = await connected(`${started.url}/chat`, {
        auth: { uuid: await ticketFor(started.url, alice) },
      });
      assert.equal(((await ask(socket, 'whoami')) as { sub: string }).sub, '1');
      socket.close();
    });
  });

  describe(`controllerDecorators reach the built-in endpoint (${platform})`, () => {
    let started: StartedApp;
    before(async () => {
      started = await startOn(platform)({
        imports: [
          ThrottlerModule.forRoot([{ ttl: 60_000, limit: 1 }]),
          WsTicketModule.forRoot({
            jwt,
            issueLimit: false,
            controllerDecorators: [Public(), SkipThrottle()],
          }),
        ],
        controllers: [HelloController, OpenController],
        providers: [
          { provide: APP_GUARD, useClass: DenyUnlessPublicGuard },
          { provide: APP_GUARD, useClass: ThrottlerGuard },
        ],
      });
    });
    after(() => started.close());

    it('a @Public() endpoint passes an app-wide auth guard that refuses the rest', async () => {
      assert.equal((await fetch(`${started.url}/hello`)).status, 403);
      assert.equal((await requestTicket(started.url, alice)).status, 201);
    });

    it('@SkipThrottle() exempts it from a throttler that allows one request a minute', async () => {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await requestTicket(started.url, alice)).status);
      assert.deepEqual(statuses, [201, 201, 201]);
      // The same throttler on a public route of the app's own.
      const open = [];
      for (let i = 0; i < 2; i++) open.push((await fetch(`${started.url}/open`)).status);
      assert.deepEqual(open, [200, 429]);
    });
  });
}

describe('A module that verifies no bearer', () => {
  it('boots with controller: false and no jwt, and issues tickets from the app', async () => {
    const started = await startApp({
      imports: [WsTicketModule.forRoot({ controller: false })],
      providers: [ChatTestGateway],
    });
    try {
      assert.equal((await requestTicket(started.url, alice)).status, 404);
      const tickets = started.app.get(WsTicketService);
      const { uuid } = await tickets.issue({ sub: '1' });
      const socket = await connected(`${started.url}/chat`, { auth: { uuid } });
      assert.equal(((await ask(socket, 'whoami')) as { sub: string }).sub, '1');
      socket.close();
      await assert.rejects(tickets.verifyBearer(`Bearer ${alice}`), /set the `jwt` option/);
    } finally {
      await started.close();
    }
  });

  for (const [name, module] of [
    ['forRoot', () => WsTicketModule.forRoot({})],
    ['forRootAsync', () => WsTicketModule.forRootAsync({ useFactory: () => ({}) })],
  ] as const) {
    it(`fails at startup when the endpoint is mounted without a key (${name}), naming the fix`, async () => {
      await assert.rejects(
        startApp({ imports: [module()] }),
        (error: Error) =>
          /POST auth\/ws-ticket/.test(error.message) &&
          /jwt\.secret/.test(error.message) &&
          /controller: false/.test(error.message),
      );
    });
  }
});

describe('forRootAsync({ useClass }) with an exported WsTicketOptionsFactory', () => {
  it('builds the options from the class and serves tickets', async () => {
    @Injectable()
    class WsTicketConfig implements WsTicketOptionsFactory {
      createWsTicketOptions(): WsTicketModuleOptions {
        return { jwt, ttl: 7 };
      }
    }
    const started = await startApp({
      imports: [WsTicketModule.forRootAsync({ useClass: WsTicketConfig })],
    });
    try {
      const response = await requestTicket(started.url, alice);
      assert.equal(response.status, 201);
      assert.equal(((await response.json()) as { expiresIn: number }).expiresIn, 7);
    } finally {
      await started.close();
    }
  });
});
