import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { JwtModule, JwtService } from '@nestjs/jwt';
import { type WsTicketClaims, WsTicketModule, WsTicketService } from '../../lib/index.js';
import { ChatTestGateway } from '../fixtures/gateways.js';
import { PLATFORMS, requestTicket, type StartedApp, startOn, ticketFor } from '../support/app.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { ask, connect, connected, next } from '../support/sockets.js';

/** Bounds every wait of a test (fetch and socket helpers have no bound of their own). */
const BOUNDED = { timeout: 15_000 };

const ISSUER = 'https://idp.test';
const AUDIENCE = 'ws-api';

/** The app's own JwtModule, whose verifyOptions the ticket endpoint must keep. */
const appJwt = () =>
  JwtModule.register({
    global: true,
    secret: TEST_SECRET,
    verifyOptions: { issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256'] },
  });

/** The ticket module verifying with the app's JwtService, plus any `jwt` options of its own. */
const withAppJwtService = (own: { issuer?: string } = {}) =>
  WsTicketModule.forRootAsync({
    inject: [JwtService],
    useFactory: (jwt: JwtService) => ({ jwt: { service: jwt, ...own } }),
  });

async function codeOf(response: Response): Promise<string | undefined> {
  return ((await response.json()) as { code?: string }).code;
}

for (const platform of PLATFORMS) {
  const start = startOn(platform);

  describe(`An app's JwtService keeps its own verify options [${platform}]`, () => {
    let started: StartedApp;

    before(async () => {
      started = await start({ imports: [appJwt(), withAppJwtService()] });
    });
    after(() => started.close());

    it(
      'issues a ticket for a token with the issuer and audience the JwtModule requires',
      BOUNDED,
      async () => {
        const response = await requestTicket(
          started.url,
          signJwt({ sub: '1', iss: ISSUER, aud: AUDIENCE }),
        );
        assert.equal(response.status, 201);
      },
    );

    const refused: Array<[string, Record<string, unknown>]> = [
      ['a wrong issuer', { iss: 'https://evil.test', aud: AUDIENCE }],
      ['no issuer', { aud: AUDIENCE }],
      ['a wrong audience', { iss: ISSUER, aud: 'other-api' }],
      ['no audience', { iss: ISSUER }],
    ];
    for (const [label, claims] of refused) {
      it(`answers 401 bearer_invalid to a token with ${label}`, BOUNDED, async () => {
        const response = await requestTicket(started.url, signJwt({ sub: '1', ...claims }));
        assert.equal(response.status, 401);
        assert.equal(await codeOf(response), 'bearer_invalid');
      });
    }
  });

  describe(`The module's own issuer wins over the JwtService's [${platform}]`, () => {
    let started: StartedApp;

    before(async () => {
      started = await start({
        imports: [appJwt(), withAppJwtService({ issuer: 'https://module.test' })],
      });
    });
    after(() => started.close());

    it('issues a ticket for a token with the issuer the module names', BOUNDED, async () => {
      const response = await requestTicket(
        started.url,
        signJwt({ sub: '1', iss: 'https://module.test', aud: AUDIENCE }),
      );
      assert.equal(response.status, 201);
    });

    it(
      "answers 401 bearer_invalid to a token with only the JwtService's issuer",
      BOUNDED,
      async () => {
        const response = await requestTicket(
          started.url,
          signJwt({ sub: '1', iss: ISSUER, aud: AUDIENCE }),
        );
        assert.equal(response.status, 401);
        assert.equal(await codeOf(response), 'bearer_invalid');
      },
    );

    it(
      "still requires the JwtService's audience when the module sets only the issuer",
      BOUNDED,
      async () => {
        const response = await requestTicket(
          started.url,
          signJwt({ sub: '1', iss: 'https://module.test', aud: 'other-api' }),
        );
        assert.equal(response.status, 401);
        assert.equal(await codeOf(response), 'bearer_invalid');
      },
    );
  });

  describe(`Tokens without a usable subject [${platform}]`, () => {
    let started: StartedApp;

    before(async () => {
      started = await start({
        imports: [
          WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, issueLimit: { limit: 2 } }),
        ],
      });
    });
    after(() => started.close());

    const unusable: Array<[string, Record<string, unknown>]> = [
      ['no sub', {}],
      ['sub {}', { sub: {} }],
      ['sub []', { sub: [] }],
      ["sub ''", { sub: '' }],
      ['sub true', { sub: true }],
    ];
    for (const [label, claims] of unusable) {
      it(
        `answers 401 bearer_invalid saying the token names no user to a token with ${label}`,
        BOUNDED,
        async () => {
          const response = await requestTicket(started.url, signJwt(claims));
          assert.equal(response.status, 401);
          const body = (await response.json()) as { code: string; message: string };
          assert.equal(body.code, 'bearer_invalid');
          assert.match(body.message, /names no user/);
          const challenge = response.headers.get('www-authenticate') ?? '';
          assert.match(challenge, /error="invalid_token"/);
          assert.match(challenge, /error_description="[^"]*names no user[^"]*"/);
        },
      );
    }

    it('issues a ticket for a numeric sub', BOUNDED, async () => {
      const response = await requestTicket(started.url, signJwt({ sub: 42 }));
      assert.equal(response.status, 201);
    });

    it('counts sub 1 and sub "1" as one user for the issuance limit', BOUNDED, async () => {
      const numeric = signJwt({ sub: 1 });
      assert.equal((await requestTicket(started.url, numeric)).status, 201);
      assert.equal((await requestTicket(started.url, numeric)).status, 201);
      const third = await requestTicket(started.url, signJwt({ sub: '1' }));
      assert.equal(third.status, 429);
      assert.equal(await codeOf(third), 'rate_limited');
    });
  });

  describe(`getUserId names the user of a token without sub [${platform}]`, () => {
    let started: StartedApp;

    before(async () => {
      started = await start({
        imports: [
          WsTicketModule.forRoot({
            jwt: { secret: TEST_SECRET },
            getUserId: (claims) => claims.uid as string,
          }),
        ],
        providers: [ChatTestGateway],
      });
    });
    after(() => started.close());

    it('issues a ticket for a token that carries uid and no sub', BOUNDED, async () => {
      const response = await requestTicket(started.url, signJwt({ uid: 'u-1' }));
      assert.equal(response.status, 201);
    });

    it(
      'puts the socket in the room of that user, so disconnectUser(uid) closes it',
      BOUNDED,
      async () => {
        const uuid = await ticketFor(started.url, signJwt({ uid: 'u-2' }));
        const socket = await connected(`${started.url}/chat`, { auth: { uuid } });
        const unauthorized = next(socket, 'unauthorized');
        const disconnected = next<string>(socket, 'disconnect');
        await started.app.get(WsTicketService).disconnectUser('u-2');
        assert.deepEqual(await unauthorized, { code: 'user_revoked' });
        assert.equal(await disconnected, 'io server disconnect');
      },
    );
  });

  describe(`resolveUser refusing with false, null or undefined [${platform}]`, () => {
    const banned = new Set<string>();
    /** Users for whom resolveUser returns this value instead of its usual answer. */
    const answers = new Map<string, unknown>();
    let started: StartedApp;

    before(async () => {
      started = await start({
        imports: [
          WsTicketModule.forRoot({
            jwt: { secret: TEST_SECRET },
            resolveUser: (claims: WsTicketClaims) => {
              const sub = String(claims.sub);
              if (answers.has(sub)) return answers.get(sub);
              return !banned.has(sub) && { id: sub };
            },
          }),
        ],
        providers: [ChatTestGateway],
      });
    });
    after(() => started.close());

    it(
      'answers 401 user_rejected to a banned user (resolveUser returned false)',
      BOUNDED,
      async () => {
        banned.add('mallory');
        const response = await requestTicket(started.url, signJwt({ sub: 'mallory' }));
        assert.equal(response.status, 401);
        assert.equal(await codeOf(response), 'user_rejected');
      },
    );

    it(
      'refuses a ticket issued before the ban with user_rejected at the handshake',
      BOUNDED,
      async () => {
        const uuid = await ticketFor(started.url, signJwt({ sub: 'trent' }));
        banned.add('trent');
        const result = await connect(`${started.url}/chat`, { auth: { uuid } });
        assert.equal(!result.ok && result.code, 'user_rejected');
      },
    );

    for (const [label, value] of [
      ['null', null],
      ['undefined', undefined],
    ] as const) {
      it(`answers 401 user_rejected when resolveUser returns ${label}`, BOUNDED, async () => {
        answers.set(`issue-${label}`, value);
        const response = await requestTicket(started.url, signJwt({ sub: `issue-${label}` }));
        assert.equal(response.status, 401);
        assert.equal(await codeOf(response), 'user_rejected');
      });

      it(
        `refuses the handshake with user_rejected when resolveUser returns ${label} by then`,
        BOUNDED,
        async () => {
          const uuid = await ticketFor(started.url, signJwt({ sub: `consume-${label}` }));
          answers.set(`consume-${label}`, value);
          const result = await connect(`${started.url}/chat`, { auth: { uuid } });
          assert.equal(!result.ok && result.code, 'user_rejected');
        },
      );
    }

    // Documented: only undefined, null and false refuse; any other value is the user.
    it(
      'accepts 0 returned as the user, at the endpoint and at the handshake',
      BOUNDED,
      async () => {
        answers.set('zero', 0);
        const uuid = await ticketFor(started.url, signJwt({ sub: 'zero' }));
        const socket = await connected(`${started.url}/chat`, { auth: { uuid } });
        try {
          assert.equal(await ask(socket, 'whoami'), 0);
        } finally {
          socket.close();
        }
      },
    );
  });
}
