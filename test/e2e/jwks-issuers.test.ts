import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type WsTicketJwtOptions,
  WsTicketModule,
  type WsTicketModuleOptions,
  WsTicketService,
} from '../../lib/index.js';
import { ticketAnswer, socketUser as userOfSocket } from '../fixtures/bearer-tickets.js';
import { ChatTestGateway } from '../fixtures/gateways.js';
import { PLATFORMS, type Platform, type StartedApp, startApp, ticketFor } from '../support/app.js';
import { forgeJwt, JwksServer, makeKey, signWith } from '../support/jwks-server.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { ask, connect, connected, next } from '../support/sockets.js';
import { CaptureLogger } from '../ws/fixtures/ws-app.js';

/** Bounds every wait of a test (fetch and socket helpers have no bound of their own). */
const BOUNDED = { timeout: 15_000 };

const APP = 'app';
const IDP = 'https://idp.example';
const AUDIENCE = 'api';
const AT_IDP = { issuer: IDP, audience: AUDIENCE };

const [idpKey, otherIdpKey, impostor] = await Promise.all([
  makeKey('RS256', 'k1'),
  makeKey('ES256', 'k1'),
  makeKey('RS256', 'k1'),
]);

/** Every token a test sent: none may appear in a log line. */
const sent = new Set<string>();
function remember(token: string): string {
  sent.add(token);
  return token;
}

/** The status and code of the ticket endpoint's answer to `token`. */
async function answerOf(url: string, token: string) {
  const { status, code, message } = await ticketAnswer(url, remember(token));
  return { status, code, message };
}

/** The user the socket opened with `token`'s ticket carries. */
function socketUser(url: string, token: string): Promise<Record<string, unknown>> {
  return userOfSocket(url, remember(token));
}

/** Starts an app with `jwt` (and other options), the /chat gateway and a captured log. */
async function startWith(
  platform: Platform,
  options: WsTicketModuleOptions,
  logger: CaptureLogger,
): Promise<StartedApp> {
  return startApp(
    { imports: [WsTicketModule.forRoot(options)], providers: [ChatTestGateway] },
    { platform, logger },
  );
}

function assertNoTokenLogged(logger: CaptureLogger): void {
  const log = logger.lines.join('\n');
  for (const token of sent) assert.ok(!log.includes(token), 'a bearer token was logged');
}

for (const platform of PLATFORMS) {
  describe(`The app's HS256 issuer beside an IdP's JWKS [${platform}]`, () => {
    const logger = new CaptureLogger();
    let server: JwksServer;
    let started: StartedApp;
    let url: string;

    before(async () => {
      server = await JwksServer.start([idpKey]);
      const jwt: WsTicketJwtOptions[] = [
        { secret: TEST_SECRET, issuer: APP },
        { jwks: { uri: server.uri }, ...AT_IDP },
      ];
      started = await startWith(platform, { jwt }, logger);
      url = started.url;
    });
    after(async () => {
      await started.close();
      await server.stop();
    });

    it(
      "issues a ticket for the app's own HS256 token, which opens a socket as its user",
      BOUNDED,
      async () => {
        const user = await socketUser(url, signJwt({ sub: 'alice', iss: APP }));
        assert.equal(user.sub, 'alice');
        assert.equal(user.iss, APP);
        assert.equal(server.requests, 0, 'an HS256 token made the JWKS be fetched');
      },
    );

    it(
      "issues a ticket for the IdP's RS256 token, which opens a socket as its user",
      BOUNDED,
      async () => {
        const user = await socketUser(url, await signWith(idpKey, { sub: 'bob' }, AT_IDP));
        assert.equal(user.sub, 'bob');
        assert.equal(user.iss, IDP);
      },
    );

    it(
      "refuses an IdP-signed token claiming the app's issuer (it goes to the HS256 source)",
      BOUNDED,
      async () => {
        const fetched = server.requests;
        const token = await signWith(
          idpKey,
          { sub: 'mallory' },
          { issuer: APP, audience: AUDIENCE },
        );
        assert.deepEqual(await answerOf(url, token), {
          status: 401,
          code: 'bearer_invalid',
          message: 'The bearer token is invalid.',
        });
        assert.equal(server.requests, fetched);
      },
    );

    it(
      "refuses an HS256 token claiming the IdP's issuer (it goes to the JWKS source)",
      BOUNDED,
      async () => {
        const fetched = server.requests;
        const token = signJwt({ sub: 'mallory', iss: IDP, aud: AUDIENCE });
        assert.equal((await answerOf(url, token)).code, 'bearer_invalid');
        // Keyed with the IdP's public key, as an alg-confusion attempt would be.
        const confused = forgeJwt(
          { alg: 'HS256', kid: idpKey.kid },
          { sub: 'mallory', iss: IDP, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 600 },
          idpKey.pem,
        );
        assert.equal((await answerOf(url, confused)).code, 'bearer_invalid');
        assert.equal(server.requests, fetched);
      },
    );

    for (const [label, claims] of [
      ['an issuer no source names', { sub: 'eve', iss: 'https://evil.example' }],
      ['no issuer', { sub: 'eve' }],
      ['a numeric issuer', { sub: 'eve', iss: 1 }],
    ] as const) {
      it(`refuses a token with ${label}: its issuer is not accepted`, BOUNDED, async () => {
        assert.deepEqual(await answerOf(url, signJwt(claims)), {
          status: 401,
          code: 'bearer_invalid',
          message: "The bearer token's issuer is not accepted.",
        });
      });
    }

    it('refuses a token that does not decode as a JWT', BOUNDED, async () => {
      const { status, code } = await answerOf(url, 'a.b.c');
      assert.deepEqual({ status, code }, { status: 401, code: 'bearer_invalid' });
    });

    it(
      "refuses an IdP token for another audience, and the app's token signed with another secret",
      BOUNDED,
      async () => {
        const other = await signWith(
          idpKey,
          { sub: 'eve' },
          { issuer: IDP, audience: 'other-api' },
        );
        assert.equal((await answerOf(url, other)).code, 'bearer_invalid');
        const wrongSecret = signJwt(
          { sub: 'eve', iss: APP },
          { secret: 'another-secret-0123456789abcdef' },
        );
        assert.equal((await answerOf(url, wrongSecret)).code, 'bearer_invalid');
      },
    );

    it('never logged a token', BOUNDED, () => {
      assertNoTokenLogged(logger);
    });
  });

  describe(`A catch-all HS256 source beside an IdP's JWKS [${platform}]`, () => {
    const logger = new CaptureLogger();
    let server: JwksServer;
    let started: StartedApp;
    let url: string;

    before(async () => {
      server = await JwksServer.start([idpKey]);
      const jwt: WsTicketJwtOptions[] = [
        { secret: TEST_SECRET },
        { jwks: { uri: server.uri }, ...AT_IDP },
      ];
      started = await startWith(platform, { jwt }, logger);
      url = started.url;
    });
    after(async () => {
      await started.close();
      await server.stop();
    });

    for (const [label, claims] of [
      ['no issuer', { sub: 'alice' }],
      ['an issuer of its own', { sub: 'alice', iss: 'https://app.example' }],
    ] as const) {
      it(`issues a ticket for the app's HS256 token with ${label}`, BOUNDED, async () => {
        const user = await socketUser(url, signJwt(claims));
        assert.equal(user.sub, 'alice');
      });
    }

    it("issues a ticket for the IdP's token", BOUNDED, async () => {
      const user = await socketUser(url, await signWith(idpKey, { sub: 'bob' }, AT_IDP));
      assert.equal(user.sub, 'bob');
    });

    it("refuses an HS256 token claiming the IdP's issuer", BOUNDED, async () => {
      const token = signJwt({ sub: 'mallory', iss: IDP, aud: AUDIENCE });
      assert.equal((await answerOf(url, token)).code, 'bearer_invalid');
    });

    it(
      'refuses an IdP-signed token with another issuer (it goes to the HS256 source)',
      BOUNDED,
      async () => {
        const fetched = server.requests;
        for (const options of [{ audience: AUDIENCE }, { issuer: 'https://other.example' }]) {
          const token = await signWith(idpKey, { sub: 'mallory' }, options);
          assert.equal((await answerOf(url, token)).status, 401);
        }
        assert.equal(server.requests, fetched);
      },
    );

    it('never logged a token', BOUNDED, () => {
      assertNoTokenLogged(logger);
    });
  });

  describe(`Kids are scoped per issuer [${platform}]`, () => {
    const A = 'https://a.example';
    const B = 'https://b.example';
    const logger = new CaptureLogger();
    let serverA: JwksServer;
    let serverB: JwksServer;
    let started: StartedApp;
    let url: string;

    before(async () => {
      // Both providers serve a key named k1; only each one's own may verify its tokens.
      serverA = await JwksServer.start([idpKey]);
      serverB = await JwksServer.start([otherIdpKey]);
      const jwt: WsTicketJwtOptions[] = [
        { jwks: { uri: serverA.uri }, issuer: A, audience: AUDIENCE },
        { jwks: { uri: serverB.uri }, issuer: B, audience: AUDIENCE },
      ];
      started = await startWith(platform, { jwt }, logger);
      url = started.url;
    });
    after(async () => {
      await started.close();
      await serverA.stop();
      await serverB.stop();
    });

    it("issues tickets for each issuer's token signed with its own k1", BOUNDED, async () => {
      const a = await socketUser(
        url,
        await signWith(idpKey, { sub: 'alice' }, { issuer: A, audience: AUDIENCE }),
      );
      assert.equal(a.iss, A);
      const b = await socketUser(
        url,
        await signWith(otherIdpKey, { sub: 'bob' }, { issuer: B, audience: AUDIENCE }),
      );
      assert.equal(b.iss, B);
      assert.deepEqual([serverA.requests, serverB.requests], [1, 1]);
    });

    it("refuses a token of issuer A signed with B's k1, and the reverse", BOUNDED, async () => {
      const aByB = await signWith(
        otherIdpKey,
        { sub: 'mallory' },
        { issuer: A, audience: AUDIENCE },
      );
      const bByA = await signWith(idpKey, { sub: 'mallory' }, { issuer: B, audience: AUDIENCE });
      assert.equal((await answerOf(url, aByB)).code, 'bearer_invalid');
      assert.equal((await answerOf(url, bByA)).code, 'bearer_invalid');
    });

    it("refuses a token of issuer A signed by a third key pair's k1", BOUNDED, async () => {
      const token = await signWith(impostor, { sub: 'mallory' }, { issuer: A, audience: AUDIENCE });
      assert.equal((await answerOf(url, token)).code, 'bearer_invalid');
    });

    it("keeps issuer A's keys when B's endpoint is down", BOUNDED, async () => {
      await serverB.stop();
      const token = await signWith(idpKey, { sub: 'alice' }, { issuer: A, audience: AUDIENCE });
      assert.equal((await answerOf(url, token)).status, 201);
    });

    it('never logged a token', BOUNDED, () => {
      assertNoTokenLogged(logger);
    });
  });

  describe(`getUserId reading another claim, for every source [${platform}]`, () => {
    const logger = new CaptureLogger();
    let server: JwksServer;
    let started: StartedApp;
    let url: string;
    let service: WsTicketService;

    before(async () => {
      server = await JwksServer.start([idpKey]);
      started = await startWith(
        platform,
        {
          jwt: [
            { secret: TEST_SECRET, issuer: APP },
            { jwks: { uri: server.uri }, ...AT_IDP },
          ],
          getUserId: (claims) => claims.oid as string,
        },
        logger,
      );
      url = started.url;
      service = started.app.get(WsTicketService);
    });
    after(async () => {
      await started.close();
      await server.stop();
    });

    for (const source of ['jwks', 'secret'] as const) {
      const tokenFor = (claims: Record<string, unknown>) =>
        source === 'jwks'
          ? signWith(idpKey, claims, AT_IDP)
          : Promise.resolve(signJwt({ iss: APP, ...claims }));

      it(`refuses a ${source} token without oid: it names no user`, BOUNDED, async () => {
        const { status, code, message } = await answerOf(url, await tokenFor({ sub: 'same-sub' }));
        assert.deepEqual({ status, code }, { status: 401, code: 'bearer_invalid' });
        assert.match(message ?? '', /names no user/);
      });

      it(
        `disconnects the socket of a ${source} token by its oid, not by its sub`,
        BOUNDED,
        async () => {
          const oid = `oid-${source}-${platform}`;
          const uuid = await ticketFor(url, remember(await tokenFor({ sub: 'same-sub', oid })));
          const socket = await connected(`${url}/chat`, { auth: { uuid } });
          try {
            assert.equal(await service.disconnectUser('same-sub'), 0);
            assert.equal(((await ask(socket, 'whoami')) as { oid: string }).oid, oid);
            const unauthorized = next(socket, 'unauthorized');
            const disconnected = next<string>(socket, 'disconnect');
            assert.equal(await service.disconnectUser(oid), 1);
            assert.deepEqual(await unauthorized, { code: 'user_revoked' });
            assert.equal(await disconnected, 'io server disconnect');
          } finally {
            socket.close();
          }
        },
      );

      it(
        `revokes the tickets of a ${source} token by its oid, not by its sub`,
        BOUNDED,
        async () => {
          const oid = `oid-revoked-${source}-${platform}`;
          const kept = await ticketFor(
            url,
            remember(await tokenFor({ sub: 'same-sub', oid: `${oid}-kept` })),
          );
          const revoked = await ticketFor(url, remember(await tokenFor({ sub: 'same-sub', oid })));
          assert.equal(await service.revokeUserTickets('same-sub'), 0);
          assert.equal(await service.revokeUserTickets(oid), 1);
          const refused = await connect(`${url}/chat`, { auth: { uuid: revoked } });
          assert.ok(!refused.ok && ['ticket_invalid', 'user_revoked'].includes(refused.code ?? ''));
          const socket = await connected(`${url}/chat`, { auth: { uuid: kept } });
          socket.close();
        },
      );
    }

    it('never logged a token', BOUNDED, () => {
      assertNoTokenLogged(logger);
    });
  });
}

/** Starts an app that must fail, and returns the startup error's message. */
async function startupError(jwt: unknown): Promise<string> {
  const error = await startApp({ imports: [WsTicketModule.forRoot({ jwt: jwt as never })] }).then(
    async (started) => {
      await started.close();
      throw new Error('the app started');
    },
    (thrown: unknown) => thrown as Error,
  );
  return error.message;
}

describe('Startup errors of a list of key sources', () => {
  const uri = 'https://idp.example/.well-known/jwks.json';
  const secret = { secret: TEST_SECRET };

  it('refuses two sources without issuer, naming both', BOUNDED, async () => {
    assert.match(
      await startupError([secret, { jwks: { uri }, audience: AUDIENCE }]),
      /^WsTicketModule: `jwt\[0\]` and `jwt\[1\]` set no `issuer`: in a list of key sources at most one may leave it out/,
    );
  });

  it('refuses two JWKS sources without issuer', BOUNDED, async () => {
    assert.match(
      await startupError([{ jwks: { uri }, issuer: IDP }, { jwks: { uri } }, { jwks: { uri } }]),
      /`jwt\[1\]` and `jwt\[2\]` set no `issuer`/,
    );
  });

  it('refuses two sources naming one issuer', BOUNDED, async () => {
    assert.match(
      await startupError([
        { ...secret, issuer: [APP, IDP] },
        { jwks: { uri }, issuer: IDP },
      ]),
      /^WsTicketModule: `jwt\[0\]\.issuer` and `jwt\[1\]\.issuer` both name "https:\/\/idp\.example"/,
    );
  });

  it('refuses an empty list and a list of 17', BOUNDED, async () => {
    assert.match(await startupError([]), /`jwt` lists 1 to 16 key sources; received 0/);
    const many = Array.from({ length: 17 }, (_, i) => ({
      jwks: { uri },
      issuer: `https://${i}.example`,
    }));
    assert.match(await startupError(many), /`jwt` lists 1 to 16 key sources; received 17/);
  });

  it('starts with 16 sources', BOUNDED, async () => {
    const sources = Array.from({ length: 16 }, (_, i) => ({
      jwks: { uri },
      issuer: `https://${i}.example`,
    }));
    const started = await startApp({ imports: [WsTicketModule.forRoot({ jwt: sources })] });
    await started.close();
  });
});
