import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Controller, Inject, Module, Post, Req, UnauthorizedException } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { JwtModule, JwtService } from '@nestjs/jwt';
import { WsTicketModule, WsTicketService } from '../../lib/index.js';
import { ChatTestGateway } from '../fixtures/gateways.js';
import { PLATFORMS, requestTicket, startOn, ticketFor } from '../support/app.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { ask, connected } from '../support/sockets.js';

for (const platform of PLATFORMS) {
  const start = startOn(platform);

  describe(`Module configuration [${platform}]`, () => {
    it('forRootAsync reads its options from ConfigService', async () => {
      const started = await start({
        imports: [
          WsTicketModule.forRootAsync({
            imports: [
              ConfigModule.forRoot({
                ignoreEnvFile: true,
                load: [() => ({ WS_SECRET: TEST_SECRET, WS_TTL: 7 })],
              }),
            ],
            inject: [ConfigService],
            useFactory: (config: ConfigService) => ({
              jwt: { secret: config.getOrThrow<string>('WS_SECRET') },
              ttl: config.getOrThrow<number>('WS_TTL'),
              resolveUser: (claims) => ({ id: claims.sub, name: 'from-config' }),
            }),
          }),
        ],
        providers: [ChatTestGateway],
      });
      try {
        const response = await requestTicket(started.url, signJwt({ sub: '9' }));
        const body = (await response.json()) as { uuid: string; expiresIn: number };
        assert.equal(body.expiresIn, 7);
        const socket = await connected(`${started.url}/chat`, { auth: { uuid: body.uuid } });
        assert.deepEqual(await ask(socket, 'whoami'), { id: '9', name: 'from-config' });
        socket.close();
      } finally {
        await started.close();
      }
    });

    it('treats every option passed as undefined as left out (process.env values)', async () => {
      const unset = process.env.WS_TICKET_TEST_UNSET_VARIABLE;
      const started = await start({
        imports: [
          WsTicketModule.forRoot({
            jwt: {
              secret: TEST_SECRET,
              publicKey: undefined,
              service: undefined,
              algorithms: undefined,
              issuer: unset,
              audience: unset,
              clockTolerance: undefined,
              allowMissingExp: undefined,
            },
            resolveUser: undefined,
            getUserId: undefined,
            callbackTimeout: undefined,
            ttl: undefined,
            param: unset,
            store: undefined,
            keyPrefix: unset,
            storeTimeout: undefined,
            closeOnSessionEnd: undefined,
            allowedOrigins: undefined,
            bind: { ip: undefined, userAgent: undefined, trustedProxies: undefined },
            issueLimit: { limit: undefined, window: undefined },
            isGlobal: undefined,
            path: unset,
            controller: undefined,
            controllerDecorators: undefined,
          }),
        ],
        providers: [ChatTestGateway],
      });
      try {
        const response = await requestTicket(started.url, signJwt({ sub: '5' }), '/auth/ws-ticket');
        const body = (await response.json()) as { uuid: string; expiresIn: number };
        assert.equal(body.expiresIn, 30);
        const socket = await connected(`${started.url}/chat`, { auth: { uuid: body.uuid } });
        assert.equal(((await ask(socket, 'whoami')) as { sub?: unknown }).sub, '5');
        socket.close();
      } finally {
        await started.close();
      }
    });

    it('mounts the endpoint on a custom path, under the global prefix', async () => {
      const started = await start(
        {
          imports: [
            WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, path: 'realtime/tickets' }),
          ],
        },
        { prefix: 'api' },
      );
      try {
        assert.equal(
          (await requestTicket(started.url, signJwt({ sub: '1' }), '/api/realtime/tickets')).status,
          201,
        );
        assert.equal(
          (await requestTicket(started.url, signJwt({ sub: '1' }), '/api/auth/ws-ticket')).status,
          404,
        );
      } finally {
        await started.close();
      }
    });

    it('reuses an app JwtService and reads a custom param', async () => {
      const jwt = JwtModule.register({ secret: TEST_SECRET });
      const started = await start({
        imports: [
          jwt,
          WsTicketModule.forRootAsync({
            imports: [jwt],
            inject: [JwtService],
            useFactory: (service: JwtService) => ({ jwt: { service }, param: 'ticket' }),
          }),
        ],
        providers: [ChatTestGateway],
      });
      try {
        const uuid = await ticketFor(started.url, signJwt({ sub: '1' }));
        const socket = await connected(`${started.url}/chat`, { auth: { ticket: uuid } });
        assert.equal(((await ask(socket, 'whoami')) as { sub: string }).sub, '1');
        socket.close();
      } finally {
        await started.close();
      }
    });

    it('controller: false drops the endpoint and lets an app controller issue tickets', async () => {
      @Controller('session')
      class SessionController {
        constructor(@Inject(WsTicketService) private readonly tickets: WsTicketService) {}

        /** The app's own auth: here a header, in real apps a Passport guard. */
        @Post('socket-ticket')
        issue(@Req() request: { headers: Record<string, string | undefined> }) {
          const user = request.headers['x-user'];
          if (!user) throw new UnauthorizedException();
          return this.tickets.issue({ sub: user, name: 'custom' });
        }
      }

      @Module({
        imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, controller: false })],
        controllers: [SessionController],
        providers: [ChatTestGateway],
      })
      class FeatureModule {}

      const started = await start({ imports: [FeatureModule] });
      try {
        assert.equal((await requestTicket(started.url, signJwt({ sub: '1' }))).status, 404);
        const response = await fetch(`${started.url}/session/socket-ticket`, {
          method: 'POST',
          headers: { 'x-user': '5' },
        });
        assert.equal(response.status, 201);
        const { uuid } = (await response.json()) as { uuid: string };
        const socket = await connected(`${started.url}/chat`, { auth: { uuid } });
        socket.close();
      } finally {
        await started.close();
      }
    });

    it('isGlobal makes the service injectable in modules that do not import it', async () => {
      @Controller('elsewhere')
      class ElsewhereController {
        constructor(@Inject(WsTicketService) private readonly tickets: WsTicketService) {}
        @Post()
        issue() {
          return this.tickets.issue({ sub: '1' });
        }
      }
      @Module({ controllers: [ElsewhereController] })
      class ElsewhereModule {}

      const started = await start({
        imports: [
          WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, isGlobal: true }),
          ElsewhereModule,
        ],
      });
      try {
        assert.equal((await fetch(`${started.url}/elsewhere`, { method: 'POST' })).status, 201);
      } finally {
        await started.close();
      }
    });
  });
}
