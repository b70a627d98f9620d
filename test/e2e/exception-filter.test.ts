import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Controller, Inject, Post, Req, UseFilters } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import {
  type TicketStore,
  WsTicketExceptionFilter,
  WsTicketModule,
  WsTicketService,
} from '../../lib/index.js';
import { DownStore } from '../fixtures/stores.js';
import { PLATFORMS, requestTicket, type StartedApp, startOn } from '../support/app.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';

interface AppRequest {
  headers: Record<string, string | string[] | undefined>;
}

/** The app's own ticket routes with no filter of their own: for APP_FILTER, or for none. */
@Controller('session')
class PlainSessionController {
  constructor(@Inject(WsTicketService) private readonly tickets: WsTicketService) {}

  /** What a Passport app does: its guard decided, `issue()` counts the limit. */
  @Post('socket-ticket')
  issue(@Req() req: AppRequest) {
    return this.tickets.issue({ sub: String(req.headers['x-user'] ?? '1') }, req);
  }

  /** The built-in endpoint's flow behind the app's routing. */
  @Post('bearer-ticket')
  issueForBearer(@Req() req: AppRequest) {
    const authorization = req.headers.authorization;
    return this.tickets.issueForBearer(
      typeof authorization === 'string' ? authorization : undefined,
      req,
    );
  }
}

/** The same routes under `@UseFilters(WsTicketExceptionFilter)`, as the README's "Your own endpoint" writes them. */
@Controller('session')
@UseFilters(WsTicketExceptionFilter)
class FilteredSessionController extends PlainSessionController {}

/** The headers a ticket answer is compared on (dates and lengths vary). */
const COMPARED = [
  'cache-control',
  'pragma',
  'x-content-type-options',
  'www-authenticate',
  'retry-after',
  'content-type',
];

async function answerOf(response: Response) {
  const headers = Object.fromEntries(COMPARED.map((name) => [name, response.headers.get(name)]));
  const body = (await response.json()) as { code?: string };
  return { status: response.status, headers, body };
}

const WIRINGS = ['@UseFilters', 'APP_FILTER'] as const;

for (const platform of PLATFORMS) {
  const start = startOn(platform);

  for (const wiring of WIRINGS) {
    describe(`WsTicketExceptionFilter on the app's own routes, ${wiring} [${platform}]`, () => {
      let started: StartedApp | undefined;
      afterEach(async () => {
        await started?.close();
        started = undefined;
      });

      const boot = async (extra: { store?: TicketStore; limit?: number } = {}) => {
        started = await start({
          imports: [
            WsTicketModule.forRoot({
              jwt: { secret: TEST_SECRET },
              issueLimit: { limit: extra.limit ?? 60, window: 60 },
              ...(extra.store ? { store: extra.store } : {}),
            }),
          ],
          controllers: [
            wiring === 'APP_FILTER' ? PlainSessionController : FilteredSessionController,
          ],
          providers:
            wiring === 'APP_FILTER'
              ? [{ provide: APP_FILTER, useClass: WsTicketExceptionFilter }]
              : [],
        });
        return started.url;
      };

      for (const [what, token] of [
        ['bearer_missing', undefined],
        ['bearer_invalid', 'not-a-jwt'],
      ] as const) {
        it(`answers ${what} from issueForBearer exactly as the built-in endpoint`, async () => {
          const url = await boot();
          const builtIn = await answerOf(await requestTicket(url, token));
          const own = await answerOf(await requestTicket(url, token, '/session/bearer-ticket'));
          assert.equal(own.status, 401);
          assert.equal(own.body.code, what);
          assert.ok(own.headers['www-authenticate']?.startsWith('Bearer realm="ws-ticket"'));
          assert.deepEqual(own, builtIn);
        });
      }

      it('answers rate_limited from issue() as the built-in endpoint: 429 with Retry-After', async () => {
        const url = await boot({ limit: 1 });
        const token = signJwt({ sub: '1' });
        assert.equal((await requestTicket(url, token)).status, 201);
        const builtIn = await answerOf(await requestTicket(url, token));
        const own = await answerOf(
          await requestTicket(url, undefined, '/session/socket-ticket', { 'x-user': '1' }),
        );
        assert.equal(own.status, 429);
        assert.deepEqual(own.body, {
          statusCode: 429,
          error: 'Too Many Requests',
          code: 'rate_limited',
          message: 'Too many WebSocket tickets requested; retry later.',
        });
        assert.ok(Number(own.headers['retry-after']) >= 1);
        // The same answer, but for Retry-After, which may have ticked down by a second since.
        assert.deepEqual(
          { ...own, headers: { ...own.headers, 'retry-after': 'n' } },
          { ...builtIn, headers: { ...builtIn.headers, 'retry-after': 'n' } },
        );
      });

      it('answers store_unavailable from issue() and issueForBearer as the built-in endpoint: 503 with Retry-After', async () => {
        const url = await boot({ store: new DownStore() });
        const token = signJwt({ sub: '1' });
        const builtIn = await answerOf(await requestTicket(url, token));
        const own = await answerOf(await requestTicket(url, undefined, '/session/socket-ticket'));
        const ownBearer = await answerOf(await requestTicket(url, token, '/session/bearer-ticket'));
        assert.equal(own.status, 503);
        assert.equal(own.body.code, 'store_unavailable');
        assert.deepEqual(
          [
            own.headers['retry-after'],
            own.headers['cache-control'],
            own.headers['x-content-type-options'],
          ],
          ['1', 'no-store', 'nosniff'],
        );
        assert.deepEqual(own, builtIn);
        assert.deepEqual(ownBearer, builtIn);
      });

      it('leaves successful answers to the route', async () => {
        const url = await boot();
        const response = await requestTicket(url, undefined, '/session/socket-ticket');
        assert.equal(response.status, 201);
        assert.equal(typeof ((await response.json()) as { uuid: unknown }).uuid, 'string');
      });
    });
  }

  describe(`Without WsTicketExceptionFilter [${platform}]`, () => {
    it("answers the app's own route 500 on rate_limited (what the filter is for)", async () => {
      const started = await start({
        imports: [
          WsTicketModule.forRoot({
            jwt: { secret: TEST_SECRET },
            issueLimit: { limit: 1, window: 60 },
          }),
        ],
        controllers: [PlainSessionController],
      });
      try {
        const path = '/session/socket-ticket';
        assert.equal((await requestTicket(started.url, undefined, path)).status, 201);
        assert.equal((await requestTicket(started.url, undefined, path)).status, 500);
      } finally {
        await started.close();
      }
    });
  });
}
