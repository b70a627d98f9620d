import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT } from 'jose';
import { type WsTicketJwksOptions, WsTicketModule } from '../../lib/index.js';
import { socketUser as userOfSocket } from '../fixtures/bearer-tickets.js';
import { ChatTestGateway } from '../fixtures/gateways.js';
import {
  PLATFORMS,
  type Platform,
  requestTicket,
  type StartedApp,
  startApp,
} from '../support/app.js';
import { forgeJwt, type JwksMode, JwksServer, makeKey, signWith } from '../support/jwks-server.js';
import { tamper } from '../support/jwt.js';
import { CaptureLogger } from '../ws/fixtures/ws-app.js';

/** Bounds every wait of a test (fetch and socket helpers have no bound of their own). */
const BOUNDED = { timeout: 20_000 };

const ISSUER = 'https://idp.example';
const AUDIENCE = 'api';
const AT = { issuer: ISSUER, audience: AUDIENCE };

/** Just over the smallest `cooldown` (1 s): sleeping this long lets the key set be fetched again. */
const PAST_COOLDOWN_MS = 1_100;

const [rs, es, rsNext, rsImpostor, esImpostor] = await Promise.all([
  makeKey('RS256', 'rs-1'),
  makeKey('ES256', 'es-1'),
  makeKey('RS256', 'rs-2'),
  // Other key pairs under the served kids: their signatures must not verify.
  makeKey('RS256', 'rs-1'),
  makeKey('ES256', 'es-1'),
]);

/** Every token a test sent: none may appear in a log line. */
const sent = new Set<string>();
function remember(token: string): string {
  sent.add(token);
  return token;
}

/**
 * An app whose only key source is the JWKS of `server`, with a captured log. Nest's Logger is
 * process-wide: apps running at the same time must share one `logger` (each finds its own fetch
 * failures by its JWKS URL).
 */
class JwksApp {
  started!: StartedApp;

  private constructor(
    readonly logger: CaptureLogger,
    private readonly jwksUri: string,
  ) {}

  static async start(
    platform: Platform,
    server: JwksServer,
    jwks: Omit<WsTicketJwksOptions, 'uri'> = {},
    logger = new CaptureLogger(),
  ): Promise<JwksApp> {
    const app = new JwksApp(logger, server.uri);
    app.started = await startApp(
      {
        imports: [WsTicketModule.forRoot({ jwt: { jwks: { uri: server.uri, ...jwks }, ...AT } })],
        providers: [ChatTestGateway],
      },
      { platform, logger: app.logger },
    );
    return app;
  }

  get url(): string {
    return this.started.url;
  }

  request(token: string): Promise<Response> {
    return requestTicket(this.url, remember(token));
  }

  /** The status and code of the answer to `token`. */
  async answer(token: string): Promise<{ status: number; code: string | undefined }> {
    const response = await this.request(token);
    const body = (await response.json()) as { code?: string };
    return { status: response.status, code: body.code };
  }

  /** Lines of the log that report a failed fetch of this app's JWKS. */
  failureLines(): string[] {
    return this.logger.lines.filter((line) =>
      line.startsWith(`JWKS fetch failed (${this.jwksUri}): `),
    );
  }

  /** Fails if any token sent so far appears in the log. */
  assertNoTokenLogged(): void {
    const log = this.logger.lines.join('\n');
    for (const token of sent) {
      const signature = token.split('.')[2];
      assert.ok(!log.includes(token), 'a bearer token was logged');
      if (signature) assert.ok(!log.includes(signature), "a token's signature was logged");
    }
  }

  close(): Promise<void> {
    return this.started.close();
  }
}

/** Asserts a 401 `bearer_invalid` with its RFC 6750 challenge. */
async function assertInvalid(response: Response): Promise<void> {
  assert.equal(response.status, 401);
  assert.equal(((await response.json()) as { code?: string }).code, 'bearer_invalid');
  assert.match(response.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
}

/** Asserts a 503 `jwks_unavailable` with a numeric Retry-After of 1 to `cooldown` seconds. */
async function assertUnavailable(response: Response, cooldown: number): Promise<void> {
  assert.equal(response.status, 503);
  const body = (await response.json()) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode']);
  assert.equal(body.code, 'jwks_unavailable');
  assert.equal(body.statusCode, 503);
  const retryAfter = response.headers.get('retry-after') ?? '';
  assert.match(retryAfter, /^\d+$/);
  assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= cooldown, `Retry-After ${retryAfter}`);
  assert.equal(response.headers.get('cache-control'), 'no-store');
  assert.equal(response.headers.get('www-authenticate'), null);
}

/** The user the socket opened with `token`'s ticket carries. */
function socketUser(url: string, token: string): Promise<{ sub: string; iss: string }> {
  return userOfSocket(url, remember(token));
}

/** Polls `token` (bounded) until it gets a ticket; every other answer must be `jwks_unavailable`. */
async function untilIssued(app: JwksApp, token: string): Promise<void> {
  for (let round = 0; round < 50; round++) {
    const response = await app.request(token);
    if (response.status === 201) return;
    await assertUnavailable(response, 1);
    await sleep(100);
  }
  assert.fail('no ticket within 5 s of the JWKS endpoint coming back');
}

for (const platform of PLATFORMS) {
  describe(`Tokens signed by a JWKS key [${platform}]`, () => {
    let server: JwksServer;
    let app: JwksApp;

    before(async () => {
      server = await JwksServer.start([rs, es]);
      app = await JwksApp.start(platform, server);
      // Loads the set, so that each refusal below shows whether it asked the provider again.
      assert.equal((await app.request(await signWith(rs, { sub: 'warm' }, AT))).status, 201);
    });
    after(async () => {
      await app.close();
      await server.stop();
    });

    it('issues a ticket for an RS256 token that opens a socket as its user', BOUNDED, async () => {
      const user = await socketUser(app.url, await signWith(rs, { sub: 'alice' }, AT));
      assert.equal(user.sub, 'alice');
      assert.equal(user.iss, ISSUER);
    });

    it('issues a ticket for an ES256 token that opens a socket as its user', BOUNDED, async () => {
      const user = await socketUser(app.url, await signWith(es, { sub: 'bob' }, AT));
      assert.equal(user.sub, 'bob');
    });

    it(
      'issues a ticket for a token without kid signed by the only key of its type',
      BOUNDED,
      async () => {
        const response = await app.request(
          await signWith(es, { sub: 'bob' }, { ...AT, kid: null }),
        );
        assert.equal(response.status, 201);
      },
    );

    const claims = {
      sub: 'mallory',
      iss: ISSUER,
      aud: AUDIENCE,
      exp: Math.floor(Date.now() / 1000) + 600,
    };
    const refused: Array<[string, () => Promise<string> | string]> = [
      [
        'a wrong issuer',
        () => signWith(rs, { sub: 'mallory' }, { ...AT, issuer: 'https://evil.example' }),
      ],
      ['no issuer', () => signWith(rs, { sub: 'mallory' }, { audience: AUDIENCE })],
      [
        'a wrong audience',
        () => signWith(rs, { sub: 'mallory' }, { ...AT, audience: 'other-api' }),
      ],
      ['no audience', () => signWith(rs, { sub: 'mallory' }, { issuer: ISSUER })],
      [
        'HS256 keyed with the JWKS key as PEM (alg confusion)',
        () => forgeJwt({ alg: 'HS256', typ: 'JWT', kid: rs.kid }, claims, rs.pem),
      ],
      [
        'HS256 keyed with the EC JWKS key as PEM (alg confusion)',
        () => forgeJwt({ alg: 'HS256', typ: 'JWT', kid: es.kid }, claims, es.pem),
      ],
      [
        "HS256 keyed with the JWK's JSON (alg confusion)",
        () => forgeJwt({ alg: 'HS256', kid: rs.kid }, claims, JSON.stringify(rs.jwk)),
      ],
      [
        "HS256 keyed with the JWK's n (alg confusion)",
        () => forgeJwt({ alg: 'HS256', kid: rs.kid }, claims, rs.jwk.n as string),
      ],
      [
        "HS256 keyed with the JWK's n, decoded (alg confusion)",
        () =>
          forgeJwt(
            { alg: 'HS256', kid: rs.kid },
            claims,
            Buffer.from(rs.jwk.n as string, 'base64url'),
          ),
      ],
      ['alg none', () => forgeJwt({ alg: 'none', kid: rs.kid }, claims, null)],
      ['alg None', () => forgeJwt({ alg: 'None', kid: rs.kid }, claims, null)],
      ['an expiry a minute ago', () => signWith(rs, { sub: 'mallory' }, { ...AT, expiresIn: -60 })],
      ['no exp', () => signWith(rs, { sub: 'mallory' }, { ...AT, expiresIn: null })],
      ['no sub', () => signWith(rs, {}, AT)],
      [
        'the signature of another key pair under the served kid (RS256)',
        () => signWith(rsImpostor, { sub: 'mallory' }, AT),
      ],
      [
        'the signature of another key pair under the served kid (ES256)',
        () => signWith(esImpostor, { sub: 'mallory' }, AT),
      ],
      [
        'no kid and the signature of another key pair',
        () => signWith(rsImpostor, { sub: 'mallory' }, { ...AT, kid: null }),
      ],
      [
        'its own key in the jwk header',
        () =>
          new SignJWT(claims)
            .setProtectedHeader({ alg: 'RS256', kid: rs.kid, jwk: rsImpostor.jwk })
            .sign(rsImpostor.privateKey),
      ],
      [
        'a payload changed after signing',
        async () => tamper(await signWith(rs, { sub: 'alice' }, AT), { sub: 'mallory' }),
      ],
      [
        'an RS256 header on an ES256 signature',
        async () => {
          const [, payload, signature] = (await signWith(es, { sub: 'mallory' }, AT)).split('.');
          const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: rs.kid })).toString(
            'base64url',
          );
          return `${header}.${payload}.${signature}`;
        },
      ],
    ];
    for (const [label, token] of refused) {
      it(
        `answers 401 bearer_invalid to a token with ${label}, without asking the provider`,
        BOUNDED,
        async () => {
          const fetched = server.requests;
          await assertInvalid(await app.request(await token()));
          assert.equal(server.requests, fetched);
        },
      );
    }

    it(
      'answers 401 bearer_invalid to an unknown kid, fetching the set at most once more',
      BOUNDED,
      async () => {
        const fetched = server.requests;
        for (let i = 0; i < 5; i++) {
          await assertInvalid(
            await app.request(await signWith(rs, { sub: 'eve' }, { ...AT, kid: `nobody-${i}` })),
          );
        }
        assert.ok(server.requests - fetched <= 1, `${server.requests - fetched} fetches`);
      },
    );

    it('never logged a token, and logged no fetch failure', BOUNDED, async () => {
      app.assertNoTokenLogged();
      assert.deepEqual(app.failureLines(), []);
    });
  });

  describe(`Key rotation without restart [${platform}]`, () => {
    let server: JwksServer;
    let app: JwksApp;

    afterEach(async () => {
      await app?.close();
      await server?.stop();
    });

    it(
      'accepts a kid the provider adds, once the cooldown has passed, with exactly one more fetch',
      BOUNDED,
      async () => {
        server = await JwksServer.start([rs]);
        app = await JwksApp.start(platform, server, { cooldown: 1 });
        assert.equal((await app.request(await signWith(rs, { sub: 'alice' }, AT))).status, 201);
        assert.equal(server.requests, 1);
        server.keys = [rs, rsNext];
        await sleep(PAST_COOLDOWN_MS);
        const user = await socketUser(app.url, await signWith(rsNext, { sub: 'carol' }, AT));
        assert.equal(user.sub, 'carol');
        assert.equal((await app.request(await signWith(rsNext, { sub: 'carol' }, AT))).status, 201);
        assert.equal((await app.request(await signWith(rs, { sub: 'alice' }, AT))).status, 201);
        assert.equal(server.requests, 2);
      },
    );

    it('refuses a kid the provider removed once a refetch has happened', BOUNDED, async () => {
      server = await JwksServer.start([rs]);
      app = await JwksApp.start(platform, server, { cooldown: 1 });
      const old = await signWith(rs, { sub: 'alice' }, AT);
      assert.equal((await app.request(old)).status, 201);
      server.keys = [rsNext];
      await sleep(PAST_COOLDOWN_MS);
      assert.equal((await app.request(await signWith(rsNext, { sub: 'carol' }, AT))).status, 201);
      assert.equal(server.requests, 2);
      await assertInvalid(await app.request(old));
      app.assertNoTokenLogged();
    });

    it(
      'stops accepting a removed kid after cacheMaxAge, by a refresh in the background',
      BOUNDED,
      async () => {
        server = await JwksServer.start([rs]);
        app = await JwksApp.start(platform, server, { cooldown: 1, cacheMaxAge: 1 });
        const old = await signWith(rs, { sub: 'alice' }, AT);
        assert.equal((await app.request(old)).status, 201);
        server.keys = [rsNext];
        await sleep(PAST_COOLDOWN_MS);
        // Stale: the first verification starts the refresh and is answered from the cached keys.
        assert.equal((await app.request(old)).status, 201);
        let refused = false;
        for (let round = 0; round < 50 && !refused; round++) {
          const response = await app.request(old);
          if (response.status === 201) await sleep(100);
          else {
            await assertInvalid(response);
            refused = true;
          }
        }
        assert.ok(refused, 'the removed key still verified 5 s after the set became stale');
        assert.ok(server.requests >= 2, 'the set was never refreshed');
        // The refreshed set serves the new key without a fetch of its own.
        const fetched = server.requests;
        assert.equal((await app.request(await signWith(rsNext, { sub: 'carol' }, AT))).status, 201);
        assert.ok(server.requests - fetched <= 1);
      },
    );
  });

  describe(`A flood of made-up kids [${platform}]`, () => {
    let server: JwksServer;
    let app: JwksApp;
    let strangers: string[];

    before(async () => {
      strangers = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          signWith(rs, { sub: `eve-${i}` }, { ...AT, kid: `made-up-${platform}-${i}` }),
        ),
      );
    });
    afterEach(async () => {
      await app?.close();
      await server?.stop();
    });

    /** Sends every stranger at once; resolves the answers' statuses and codes. */
    const flood = () => Promise.all(strangers.map((token) => app.answer(token)));

    it(
      'answers 100 concurrent unknown kids 401 bearer_invalid with one JWKS request',
      BOUNDED,
      async () => {
        server = await JwksServer.start([rs, es]);
        app = await JwksApp.start(platform, server);
        for (const answer of await flood()) {
          assert.deepEqual(answer, { status: 401, code: 'bearer_invalid' });
        }
        assert.equal(server.requests, 1);
        // A second wave within the cooldown asks nothing more.
        for (const answer of await flood()) {
          assert.deepEqual(answer, { status: 401, code: 'bearer_invalid' });
        }
        assert.equal(server.requests, 1);
        assert.equal((await app.request(await signWith(rs, { sub: 'alice' }, AT))).status, 201);
        app.assertNoTokenLogged();
      },
    );

    for (const mode of ['error', 'hang'] as const) {
      it(
        `answers them all 503 jwks_unavailable with one JWKS request when the endpoint is down (${mode})`,
        BOUNDED,
        async () => {
          server = await JwksServer.start([rs, es]);
          server.mode = mode;
          app = await JwksApp.start(platform, server, { timeout: 300 });
          for (const answer of await flood()) {
            assert.deepEqual(answer, { status: 503, code: 'jwks_unavailable' });
          }
          assert.equal(server.requests, 1);
          for (const answer of await flood()) {
            assert.deepEqual(answer, { status: 503, code: 'jwks_unavailable' });
          }
          assert.equal(server.requests, 1);
          assert.equal(app.failureLines().length, 1);
          app.assertNoTokenLogged();
        },
      );
    }
  });

  // The failure modes are alike on both platforms, whose answers differ only in headers: every mode
  // on Express, the two most common ones on Fastify (the unit test of JwksKeySet covers more ways
  // to fail).
  const modes: Array<JwksMode | 'stopped'> =
    platform === 'express' ? ['stopped', 'error', 'hang', 'garbage', 'huge'] : ['stopped', 'error'];

  describe(`The JWKS endpoint failing [${platform}]`, { concurrency: true }, () => {
    const logger = new CaptureLogger();
    for (const mode of modes) {
      it(
        `keeps cached keys working, answers the others 503 jwks_unavailable at once, and recovers (${mode})`,
        BOUNDED,
        async () => {
          const server = await JwksServer.start([rs]);
          const app = await JwksApp.start(platform, server, { cooldown: 1, timeout: 300 }, logger);
          try {
            const cached = await signWith(rs, { sub: 'alice' }, AT);
            const uncached = await signWith(rsNext, { sub: 'carol' }, AT);
            assert.equal((await app.request(cached)).status, 201);
            assert.equal(server.requests, 1);
            server.keys = [rs, rsNext];
            if (mode === 'stopped') await server.stop();
            else server.mode = mode;
            await sleep(PAST_COOLDOWN_MS);

            assert.equal((await app.request(cached)).status, 201);
            assert.equal(server.requests, 1, 'a cached key made the set be fetched');
            await assertUnavailable(await app.request(uncached), 1);
            const failed = server.requests;
            assert.equal(failed, mode === 'stopped' ? 1 : 2);
            // Within the cooldown after the failure: answered without asking the endpoint.
            await assertUnavailable(await app.request(uncached), 1);
            await assertUnavailable(
              await app.request(await signWith(rs, { sub: 'eve' }, { ...AT, kid: 'made-up' })),
              1,
            );
            assert.equal(server.requests, failed);
            assert.equal((await app.request(cached)).status, 201);

            const lines = app.failureLines();
            assert.equal(lines.length, 1);
            assert.ok(lines[0].startsWith(`JWKS fetch failed (${server.uri}): `), lines[0]);

            if (mode === 'stopped') await server.restart();
            else server.mode = 'ok';
            await untilIssued(app, uncached);
            assert.equal(server.requests, failed + 1, 'recovering took more than one fetch');
            assert.equal((await app.request(cached)).status, 201);
            app.assertNoTokenLogged();
          } finally {
            await app.close();
            await server.stop();
          }
        },
      );
    }

    it('logs the first failed fetch of a minute, not every one', BOUNDED, async () => {
      const server = await JwksServer.start([rs]);
      server.mode = 'error';
      const app = await JwksApp.start(platform, server, { cooldown: 1 }, logger);
      try {
        const token = await signWith(rs, { sub: 'alice' }, AT);
        await assertUnavailable(await app.request(token), 1);
        await sleep(PAST_COOLDOWN_MS);
        await assertUnavailable(await app.request(token), 1);
        assert.equal(server.requests, 2);
        assert.equal(app.failureLines().length, 1);
      } finally {
        await app.close();
        await server.stop();
      }
    });

    if (platform === 'express') {
      it(
        'answers at once, without asking the endpoint, right after a fetch that timed out later than the cooldown',
        BOUNDED,
        async () => {
          const server = await JwksServer.start([rs]);
          const app = await JwksApp.start(
            platform,
            server,
            { cooldown: 1, timeout: 1_500 },
            logger,
          );
          try {
            assert.equal((await app.request(await signWith(rs, { sub: 'alice' }, AT))).status, 201);
            server.mode = 'hang';
            await sleep(PAST_COOLDOWN_MS);
            const uncached = await signWith(rsNext, { sub: 'carol' }, AT);
            await assertUnavailable(await app.request(uncached), 1);
            assert.equal(server.requests, 2);
            await assertUnavailable(await app.request(uncached), 1);
            assert.equal(server.requests, 2, 'the endpoint was asked again right after it failed');
          } finally {
            await app.close();
            await server.stop();
          }
        },
      );
    }
  });
}

describe('What a JWKS source logs', () => {
  it(
    'never logs the fetch headers nor the query of the JWKS URL when the endpoint fails',
    BOUNDED,
    async () => {
      const server = await JwksServer.start([rs]);
      server.mode = 'error';
      const logger = new CaptureLogger();
      const started = await startApp(
        {
          imports: [
            WsTicketModule.forRoot({
              jwt: {
                jwks: {
                  uri: `${server.uri}?tenant=q-s3cret`,
                  headers: { 'x-api-key': 'h-s3cret' },
                },
                ...AT,
              },
            }),
          ],
        },
        { logger },
      );
      try {
        await assertUnavailable(
          await requestTicket(started.url, await signWith(rs, { sub: 'a' }, AT)),
          30,
        );
        assert.equal(server.lastHeaders?.['x-api-key'], 'h-s3cret');
        const log = logger.lines.join('\n');
        assert.match(log, /JWKS fetch failed \(http:\/\/127\.0\.0\.1:\d+\/jwks\): /);
        assert.ok(!log.includes('s3cret'), log);
      } finally {
        await started.close();
        await server.stop();
      }
    },
  );

  it(
    'warns at startup about a plain http: URL off loopback and a source without issuer nor audience',
    BOUNDED,
    async () => {
      const logger = new CaptureLogger();
      const started = await startApp(
        {
          imports: [WsTicketModule.forRoot({ jwt: { jwks: { uri: 'http://keys.example/jwks' } } })],
        },
        { logger },
      );
      await started.close();
      assert.ok(logger.lines.some((line) => line.includes('`jwt.jwks.uri` is a plain http: URL')));
      assert.ok(
        logger.lines.some((line) => /`jwt` \(jwks\) sets no `issuer` nor `audience`/.test(line)),
      );
    },
  );

  it('does not warn about a loopback http: URL with issuer and audience set', BOUNDED, async () => {
    const logger = new CaptureLogger();
    const started = await startApp(
      {
        imports: [
          WsTicketModule.forRoot({ jwt: { jwks: { uri: 'http://127.0.0.1:1/jwks' }, ...AT } }),
        ],
      },
      { logger },
    );
    await started.close();
    assert.deepEqual(
      logger.lines.filter((line) => line.includes('jwks')),
      [],
    );
  });
});

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

describe('Startup errors of a JWKS source', () => {
  const uri = 'https://idp.example/.well-known/jwks.json';
  const cases: Array<[string, unknown, RegExp]> = [
    [
      'HS256 listed',
      { jwks: { uri }, algorithms: ['HS256'] },
      /^WsTicketModule: `jwt\.algorithms` lists HS256 for a `jwks` source, which takes asymmetric algorithms only/,
    ],
    [
      'HS512 beside RS256',
      { jwks: { uri }, algorithms: ['RS256', 'HS512'] },
      /lists HS512 for a `jwks` source/,
    ],
    [
      'HS256 listed, in a list of sources',
      [
        { secret: 'x'.repeat(32), issuer: 'app' },
        { jwks: { uri }, issuer: ISSUER, algorithms: ['HS256'] },
      ],
      /^WsTicketModule: `jwt\[1\]\.algorithms` lists HS256 for a `jwks` source/,
    ],
    [
      'a secret beside it',
      { jwks: { uri }, secret: 'x'.repeat(32) },
      /^WsTicketModule: `jwt` sets `secret` and `jwks`: a source has one kind of key/,
    ],
    [
      'an ftp: URL',
      { jwks: { uri: 'ftp://idp.example/jwks' } },
      /^WsTicketModule: `jwt\.jwks\.uri` must be an https: URL/,
    ],
    ['no URL', { jwks: {} }, /`jwt\.jwks\.uri` must be an https: URL/],
    [
      'cooldown 0',
      { jwks: { uri, cooldown: 0 } },
      /^WsTicketModule: `jwt\.jwks\.cooldown` must be a number of seconds from 1 to 3600; received 0/,
    ],
    [
      'cacheMaxAge under the cooldown',
      { jwks: { uri, cooldown: 60, cacheMaxAge: 30 } },
      /`jwt\.jwks\.cacheMaxAge` must be a number of seconds from 60 to 604800/,
    ],
    [
      'timeout 0',
      { jwks: { uri, timeout: 0 } },
      /`jwt\.jwks\.timeout` must be a number of milliseconds from 1 to 60000/,
    ],
    [
      'headers that are not strings',
      { jwks: { uri, headers: { 'x-api-key': 1 } } },
      /`jwt\.jwks\.headers` must be an object of strings/,
    ],
  ];
  for (const [label, jwt, expected] of cases) {
    it(`refuses a jwks source with ${label}`, BOUNDED, async () => {
      assert.match(await startupError(jwt), expected);
    });
  }

  it(
    'refuses a JWKS URL with credentials, which fetch can never request, without echoing the password',
    BOUNDED,
    async () => {
      const message = await startupError({
        jwks: { uri: 'https://user:p-s3cret@idp.example/jwks' },
        ...AT,
      });
      assert.match(
        message,
        /^WsTicketModule: `jwt\.jwks\.uri` carries credentials \(user:password@\), which fetch refuses\. Send them in `jwt\.jwks\.headers`/,
      );
      assert.ok(!message.includes('p-s3cret'), message);
    },
  );
});
