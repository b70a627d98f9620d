import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type WsTicketClaims, WsTicketError, WsTicketModule } from '../../lib/index.js';
import { ChatTestGateway } from '../fixtures/gateways.js';
import { connectChat, issueTicket } from '../redis/support/http.js';
import { PLATFORMS, requestTicket, type StartedApp, startOn } from '../support/app.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { connected, next } from '../support/sockets.js';
import { CaptureLogger } from '../ws/fixtures/ws-app.js';

/** Bounds every wait of a test (fetch and socket helpers have no bound of their own). */
const BOUNDED = { timeout: 15_000 };

/** What the user backend's driver says: internal text no client may ever see. */
const INTERNAL = 'connect ECONNREFUSED 10.0.0.5:5432';

/** A stack trace's frame lines, as Nest's logger prints them after the message. */
const STACK = /\n\s+at /;

/** How the user backend answers `resolveUser`, as each test sets it. */
type Answer = 'user' | 'null' | 'down' | 'refuse-by-throw' | 'revoked-by-throw';

/** The app's user backend behind `resolveUser`, asynchronous like a database driver. */
class UserBackend {
  answer: Answer = 'user';

  readonly resolveUser = async (claims: WsTicketClaims) => {
    if (this.answer === 'down') throw new Error(INTERNAL);
    if (this.answer === 'refuse-by-throw') throw new WsTicketError('user_rejected');
    if (this.answer === 'revoked-by-throw') throw new WsTicketError('user_revoked');
    if (this.answer === 'null') return null;
    return { id: String(claims.sub) };
  };
}

/** The log lines of the `resolveUser` failure (its first line names the kind). */
function failureLines(logger: CaptureLogger): string[] {
  return logger.lines.filter((line) => line.startsWith('resolveUser threw'));
}

/** Asserts that a ticket request was refused 401 with `code`, and logged as no failure. */
async function assertRefused(
  response: Response,
  code: string,
  logger: CaptureLogger,
): Promise<void> {
  assert.equal(response.status, 401);
  assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer realm="ws-ticket"/);
  assert.equal(((await response.json()) as { code: string }).code, code);
  assert.equal(failureLines(logger).length, 0);
}

for (const platform of PLATFORMS) {
  const start = startOn(platform);

  describe(`A resolveUser that throws is a failure, not a refusal [${platform}]`, () => {
    let backend: UserBackend;
    let logger: CaptureLogger;
    let started: StartedApp;
    let url: string;

    // A fresh app each time: the log keeps one stack per minute, and each test counts its own.
    beforeEach(async () => {
      backend = new UserBackend();
      logger = new CaptureLogger();
      started = await start(
        {
          imports: [
            WsTicketModule.forRoot({
              jwt: { secret: TEST_SECRET },
              resolveUser: backend.resolveUser,
            }),
          ],
          providers: [ChatTestGateway],
        },
        { logger },
      );
      url = started.url;
    });
    afterEach(() => started.close());

    it(
      'answers the ticket request 503 store_unavailable with Retry-After and none of the error text',
      BOUNDED,
      async () => {
        backend.answer = 'down';
        const response = await requestTicket(url, signJwt({ sub: 'erin' }));
        assert.equal(response.status, 503);
        assert.ok(response.headers.get('retry-after'), 'no Retry-After');
        assert.equal(response.headers.get('www-authenticate'), null);
        const body = await response.text();
        assert.equal((JSON.parse(body) as { code: string }).code, 'store_unavailable');
        assert.ok(!body.includes('10.0.0.5') && !body.includes('ECONNREFUSED'), body);
      },
    );

    it(
      'logs the failure once with its stack, and a second throw in the same minute adds no stack',
      BOUNDED,
      async () => {
        backend.answer = 'down';
        const token = signJwt({ sub: 'erin' });
        assert.equal((await requestTicket(url, token)).status, 503);
        const first = failureLines(logger);
        assert.equal(first.length, 1);
        assert.ok(first[0].includes(INTERNAL), first[0]);
        assert.match(first[0], STACK);
        assert.equal((await requestTicket(url, token)).status, 503);
        assert.equal(failureLines(logger).length, 1);
        assert.equal(logger.lines.filter((line) => STACK.test(line)).length, 1);
        assert.ok(!logger.lines.join('\n').includes(token), 'the bearer token was logged');
      },
    );

    it(
      'refuses the handshake with store_unavailable, never the error text, when resolveUser throws at connect time',
      BOUNDED,
      async () => {
        const uuid = await issueTicket(url, 'frank');
        backend.answer = 'down';
        const result = await connectChat(url, uuid);
        assert.equal(result.ok, false);
        assert.equal(!result.ok && result.code, 'store_unavailable');
        assert.equal(!result.ok && result.message, 'store_unavailable');
        const lines = failureLines(logger);
        assert.equal(lines.length, 1);
        assert.match(lines[0], STACK);
        assert.ok(!logger.lines.join('\n').includes(uuid), 'the ticket was logged');
      },
    );

    it(
      'answers 401 with the code of another WsTicketError resolveUser throws on purpose',
      BOUNDED,
      async () => {
        backend.answer = 'revoked-by-throw';
        await assertRefused(
          await requestTicket(url, signJwt({ sub: 'ivan' })),
          'user_revoked',
          logger,
        );
      },
    );

    it('still answers 401 user_rejected when resolveUser returns null', BOUNDED, async () => {
      backend.answer = 'null';
      await assertRefused(
        await requestTicket(url, signJwt({ sub: 'grace' })),
        'user_rejected',
        logger,
      );
    });

    it(
      'still refuses the handshake with user_rejected when resolveUser returns null by then',
      BOUNDED,
      async () => {
        const uuid = await issueTicket(url, 'heidi');
        backend.answer = 'null';
        const result = await connectChat(url, uuid);
        assert.equal(!result.ok && result.code, 'user_rejected');
      },
    );

    it(
      'answers 401 user_rejected when resolveUser throws WsTicketError user_rejected',
      BOUNDED,
      async () => {
        backend.answer = 'refuse-by-throw';
        await assertRefused(
          await requestTicket(url, signJwt({ sub: 'ivan' })),
          'user_rejected',
          logger,
        );
      },
    );

    it(
      'admits the socket once resolveUser stops throwing, with a new ticket',
      BOUNDED,
      async () => {
        backend.answer = 'down';
        assert.equal((await requestTicket(url, signJwt({ sub: 'judy' }))).status, 503);
        backend.answer = 'user';
        const result = await connectChat(url, await issueTicket(url, 'judy'));
        assert.ok(result.ok, `refused: ${!result.ok && result.code}`);
        result.socket.close();
      },
    );
  });

  describe(`A resolveUser that throws in a guard-only app [${platform}]`, () => {
    const backend = new UserBackend();
    const logger = new CaptureLogger();
    let started: StartedApp;

    beforeEach(async () => {
      started = await start(
        {
          imports: [
            WsTicketModule.forRoot({
              jwt: { secret: TEST_SECRET },
              resolveUser: backend.resolveUser,
            }),
          ],
          providers: [ChatTestGateway],
        },
        { adapter: 'plain', logger },
      );
    });
    afterEach(() => started.close());

    it(
      'answers the guarded message with an exception store_unavailable, never the error text',
      BOUNDED,
      async () => {
        const uuid = await issueTicket(started.url, 'kate');
        backend.answer = 'down';
        const socket = await connected(`${started.url}/chat`, { auth: { uuid } });
        try {
          const exception = next<{ code?: string; message?: string }>(socket, 'exception');
          socket.emit('whoami');
          const { code, message } = await exception;
          assert.equal(code, 'store_unavailable');
          assert.ok(!String(message).includes('10.0.0.5'), String(message));
        } finally {
          socket.close();
        }
        assert.match(failureLines(logger)[0] ?? '', STACK);
      },
    );
  });
}
