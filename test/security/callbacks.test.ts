import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { type WsTicketClaims, WsTicketModule } from '../../lib/index.js';
import { ChatTestGateway } from '../fixtures/gateways.js';
import { connectChat, issueTicket, requestTicketAs } from '../redis/support/http.js';
import { PLATFORMS, type StartedApp, startOn } from '../support/app.js';
import { TEST_SECRET } from '../support/jwt.js';
import { ask } from '../support/sockets.js';
import { ConnectionLog, EchoWsGateway, ticketModule } from '../ws/fixtures/gateways.js';
import {
  ask as askWs,
  CaptureLogger,
  closeWs,
  openWs,
  type StartedWsApp,
  startWsApp,
} from '../ws/fixtures/ws-app.js';

/** Bounds every wait of a test (fetch and socket helpers have no bound of their own). */
const BOUNDED = { timeout: 15_000 };

/** Far below the 5 s bound of the requests: a hung hook is answered long before a client gives up. */
const CALLBACK_TIMEOUT = 200;

/** An app callback that answers, never settles, or throws, as the test sets it. */
type Behaviour = 'answer' | 'hang' | 'throw';

const never = () => new Promise<never>(() => {});

/** App hooks whose behaviour the tests switch; each test starts with both answering. */
class Hooks {
  user: Behaviour = 'answer';
  origin: Behaviour = 'answer';

  readonly resolveUser = (claims: WsTicketClaims) => {
    if (this.user === 'hang') return never();
    // No ticket or token in the message: the log may show it.
    if (this.user === 'throw') throw new Error('users backend exploded');
    return { id: String(claims.sub) };
  };

  readonly allowedOrigins = () => {
    if (this.origin === 'throw') throw new Error('origin registry exploded');
    return this.origin === 'hang' ? never() : true;
  };

  reset(): void {
    this.user = 'answer';
    this.origin = 'answer';
  }
}

for (const platform of PLATFORMS) {
  const start = startOn(platform);

  describe(`App callbacks are bounded by callbackTimeout (Socket.IO) [${platform}]`, () => {
    const hooks = new Hooks();
    const logger = new CaptureLogger();
    let started: StartedApp;
    let url: string;

    before(async () => {
      started = await start(
        {
          imports: [
            WsTicketModule.forRoot({
              jwt: { secret: TEST_SECRET },
              callbackTimeout: CALLBACK_TIMEOUT,
              resolveUser: hooks.resolveUser,
              allowedOrigins: hooks.allowedOrigins,
            }),
          ],
          providers: [ChatTestGateway],
        },
        { logger },
      );
      url = started.url;
    });
    afterEach(() => hooks.reset());
    after(() => started.close());

    it(
      'answers 503 store_unavailable with Retry-After when resolveUser never settles',
      BOUNDED,
      async () => {
        hooks.user = 'hang';
        const response = await requestTicketAs(url);
        assert.equal(response.status, 503);
        assert.ok(response.headers.get('retry-after'), 'no Retry-After');
        assert.equal(((await response.json()) as { code: string }).code, 'store_unavailable');
      },
    );

    it(
      'refuses the handshake with store_unavailable when resolveUser hangs at consume time',
      BOUNDED,
      async () => {
        const uuid = await issueTicket(url);
        hooks.user = 'hang';
        const result = await connectChat(url, uuid);
        assert.equal(!result.ok && result.code, 'store_unavailable');
      },
    );

    it(
      'refuses the handshake with store_unavailable when allowedOrigins never settles',
      BOUNDED,
      async () => {
        const uuid = await issueTicket(url);
        hooks.origin = 'hang';
        const result = await connectChat(url, uuid);
        assert.equal(!result.ok && result.code, 'store_unavailable');
      },
    );

    it(
      'keeps a ticket unspent while allowedOrigins hangs, so it connects once the function answers',
      BOUNDED,
      async () => {
        const uuid = await issueTicket(url);
        hooks.origin = 'hang';
        const refused = await connectChat(url, uuid);
        assert.equal(!refused.ok && refused.code, 'store_unavailable');
        hooks.origin = 'answer';
        const result = await connectChat(url, uuid);
        assert.ok(result.ok, `refused: ${!result.ok && result.code}`);
        result.socket.close();
      },
    );

    it(
      'issues tickets and admits sockets again once resolveUser answers again',
      BOUNDED,
      async () => {
        hooks.user = 'hang';
        assert.equal((await requestTicketAs(url, 'carol')).status, 503);
        hooks.user = 'answer';
        const result = await connectChat(url, await issueTicket(url, 'carol'));
        assert.ok(result.ok, `refused: ${!result.ok && result.code}`);
        assert.deepEqual(await ask(result.socket, 'whoami'), { id: 'carol' });
        result.socket.close();
      },
    );

    // A throw is a failure like a hang (issue #21): retried by clients, never user_rejected.
    it(
      'answers 503 store_unavailable with Retry-After when resolveUser throws a plain Error',
      BOUNDED,
      async () => {
        hooks.user = 'throw';
        const response = await requestTicketAs(url);
        assert.equal(response.status, 503);
        assert.ok(response.headers.get('retry-after'), 'no Retry-After');
        assert.equal(((await response.json()) as { code: string }).code, 'store_unavailable');
      },
    );

    it(
      'refuses the handshake with store_unavailable when resolveUser throws, and logs no ticket',
      BOUNDED,
      async () => {
        const uuid = await issueTicket(url);
        hooks.user = 'throw';
        const result = await connectChat(url, uuid);
        assert.equal(!result.ok && result.code, 'store_unavailable');
        const logs = logger.lines.join('\n');
        assert.match(logs, /resolveUser threw: users backend exploded/);
        assert.equal(logs.includes(uuid), false, 'the ticket was logged');
      },
    );

    it(
      'refuses the handshake with store_unavailable, not origin_forbidden, when allowedOrigins throws, and keeps the ticket unspent',
      BOUNDED,
      async () => {
        const uuid = await issueTicket(url);
        hooks.origin = 'throw';
        const refused = await connectChat(url, uuid);
        assert.equal(!refused.ok && refused.code, 'store_unavailable');
        assert.match(
          logger.lines.join('\n'),
          /allowedOrigins threw: origin registry exploded .*\n\s+at /,
        );
        hooks.origin = 'answer';
        const result = await connectChat(url, uuid);
        assert.ok(result.ok, `refused: ${!result.ok && result.code}`);
        result.socket.close();
      },
    );
  });

  describe(`App callbacks are bounded by callbackTimeout (raw ws) [${platform}]`, () => {
    const hooks = new Hooks();
    let server: StartedWsApp;

    before(async () => {
      server = await startWsApp(
        {
          imports: [
            ticketModule({ callbackTimeout: CALLBACK_TIMEOUT, resolveUser: hooks.resolveUser }),
          ],
          providers: [EchoWsGateway, ConnectionLog],
        },
        { platform },
      );
    });
    afterEach(() => hooks.reset());
    after(() => server.close());

    it(
      'answers the upgrade 503 { code: "store_unavailable" } when resolveUser hangs at consume time',
      BOUNDED,
      async () => {
        const uuid = await issueTicket(server.url);
        hooks.user = 'hang';
        const outcome = await openWs(`${server.wsUrl}/ws?uuid=${uuid}`);
        assert.equal(outcome.ok, false);
        assert.equal(!outcome.ok && outcome.status, 503);
        assert.deepEqual(!outcome.ok && JSON.parse(outcome.body), { code: 'store_unavailable' });
      },
    );

    it(
      'answers the upgrade 503 { code: "store_unavailable" } as JSON when resolveUser throws, without its text',
      BOUNDED,
      async () => {
        const uuid = await issueTicket(server.url);
        hooks.user = 'throw';
        const outcome = await openWs(`${server.wsUrl}/ws?uuid=${uuid}`);
        assert.equal(!outcome.ok && outcome.status, 503);
        assert.match((!outcome.ok && outcome.contentType) || '', /^application\/json/);
        assert.deepEqual(!outcome.ok && JSON.parse(outcome.body), { code: 'store_unavailable' });
      },
    );

    it('accepts upgrades again once resolveUser answers again', BOUNDED, async () => {
      const early = await issueTicket(server.url);
      hooks.user = 'hang';
      const refused = await openWs(`${server.wsUrl}/ws?uuid=${early}`);
      assert.equal(!refused.ok && refused.code, 'store_unavailable');
      hooks.user = 'answer';
      const outcome = await openWs(
        `${server.wsUrl}/ws?uuid=${await issueTicket(server.url, 'dave')}`,
      );
      assert.ok(outcome.ok, 'upgrade refused');
      assert.deepEqual(await askWs(outcome.ws, 'whoami'), { id: 'dave' });
      await closeWs(outcome.ws);
    });
  });
}
