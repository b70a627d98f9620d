// Attacks on bearer verification against JWKS key sources (issue #14): algorithm confusion, issuer
// routing, the fetch policy, hostile key set endpoints, outages, floods and startup checks. Every
// test runs a real Nest app on port 0 against a real JWKS endpoint over real HTTP; waits are
// bounded, and fetches are counted, never timed.
import assert from 'node:assert/strict';
import { constants, createHmac, createPublicKey, KeyObject, sign } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK } from 'jose';
import {
  WsTicketBearerVerifier,
  type WsTicketJwtOptions,
  WsTicketModule,
  type WsTicketModuleOptions,
} from '../../lib/index.js';
import { type TicketAnswer, ticketAnswer } from '../fixtures/bearer-tickets.js';
import {
  PLATFORMS,
  type Platform,
  requestTicket,
  type StartedApp,
  startApp,
} from '../support/app.js';
import { type HostileHandler, type HostileServer, hostileServer } from '../support/hostile-http.js';
import { internalsOf } from '../support/internals.js';
import { JwksServer, makeKey, signWith, type TestKey } from '../support/jwks-server.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { CaptureLogger } from '../ws/fixtures/ws-app.js';

/** Bounds every wait of a test (fetch has no bound of its own). */
const BOUNDED = { timeout: 30_000 };

const ISSUER = 'https://idp.test/';
const AUDIENCE = 'ws-api';

const b64 = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Registered claims of a token the provider would issue for this app. */
function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    sub: 'user-1',
    iss: ISSUER,
    aud: AUDIENCE,
    iat: nowSeconds(),
    exp: nowSeconds() + 600,
    ...extra,
  };
}

/**
 * A compact JWS over exactly `header` and `payload` (a string payload is sent as is, so that it
 * may repeat a key), signed with `key` as `header.alg` says, whatever the key was made for.
 */
function forge(
  header: Record<string, unknown>,
  payload: Record<string, unknown> | string,
  key: TestKey | CryptoKey,
): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const privateKey = KeyObject.from('privateKey' in key ? key.privateKey : key);
  const alg = String(header.alg);
  const hash = `sha${alg.slice(2)}`;
  const data = Buffer.from(input);
  const signature = alg.startsWith('PS')
    ? sign(hash, data, {
        key: privateKey,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: Number(alg.slice(2)) / 8,
      })
    : alg.startsWith('ES')
      ? sign(hash, data, { key: privateKey, dsaEncoding: 'ieee-p1363' })
      : sign(hash, data, privateKey);
  return `${input}.${signature.toString('base64url')}`;
}

/** An HMAC-"signed" token whose secret is whatever the attacker knows (a public key, say). */
function hmacForge(
  alg: 'HS256' | 'HS384' | 'HS512',
  secret: string | Buffer,
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): string {
  const input = `${b64({ ...header, alg })}.${b64(payload)}`;
  const mac = createHmac(`sha${alg.slice(2)}`, secret)
    .update(input)
    .digest('base64url');
  return `${input}.${mac}`;
}

/** POSTs a bearer to the ticket endpoint and reads the answer. */
const ask = ticketAnswer;

/** An app whose ticket endpoint verifies bearers with `jwt` (no issuance limit unless `extra` sets one). */
function startIdpApp(
  platform: Platform,
  jwt: WsTicketJwtOptions | WsTicketJwtOptions[],
  extra: Partial<WsTicketModuleOptions> = {},
  logger?: CaptureLogger,
): Promise<StartedApp> {
  return startApp(
    { imports: [WsTicketModule.forRoot({ issueLimit: false, ...extra, jwt })] },
    { platform, ...(logger ? { logger } : {}) },
  );
}

/** Resolves once `done()` holds, polling every 50 ms; fails after `limit` ms. */
async function until(done: () => Promise<boolean>, limit = 15_000): Promise<void> {
  const deadline = Date.now() + limit;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${limit} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A hostile JWKS endpoint at `/jwks` (its URL for `jwks.uri`). */
async function hostileJwks(handler: HostileHandler): Promise<HostileServer & { uri: string }> {
  const server = await hostileServer(handler);
  return Object.assign(server, { uri: `${server.url}/jwks` });
}

/** Writes `size` bytes of spaces lazily (as fast as the client reads); counts what was written. */
function lazyBody(size: number, declare: boolean): HostileHandler & { written(): number } {
  let written = 0;
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  const handler: HostileHandler = (_req, res: ServerResponse) => {
    res.writeHead(200, {
      'content-type': 'application/json',
      ...(declare ? { 'content-length': size } : {}),
    });
    const pump = () => {
      while (!res.destroyed && written < size) {
        written += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      if (!res.destroyed) res.end();
    };
    pump();
  };
  return Object.assign(handler, { written: () => written });
}

for (const platform of PLATFORMS) {
  describe(`Algorithm confusion against a JWKS source [${platform}]`, () => {
    let rs: TestKey;
    let ps: TestKey;
    let ec: TestKey;
    let jwks: JwksServer;
    let started: StartedApp;

    before(async () => {
      [rs, ps, ec] = await Promise.all([
        makeKey('RS256', 'rs-1'),
        makeKey('PS256', 'ps-1'),
        makeKey('ES256', 'ec-1'),
      ]);
      jwks = await JwksServer.start([rs, ps, ec]);
      started = await startIdpApp(platform, {
        jwks: { uri: jwks.uri, cooldown: 3600 },
        issuer: ISSUER,
        audience: AUDIENCE,
      });
    });
    after(async () => {
      await started.close();
      await jwks.stop();
    });

    it(
      'refuses HS256/384/512 tokens keyed with the published key as PEM, DER, JWK JSON or modulus, without fetching the key set',
      BOUNDED,
      async () => {
        const der = createPublicKey(rs.pem).export({ type: 'spki', format: 'der' });
        const secrets: Array<[string, string | Buffer]> = [
          ['PEM', rs.pem],
          ['PEM without its last newline', rs.pem.trimEnd()],
          ['DER', der],
          ['JWK JSON', JSON.stringify(rs.jwk)],
          ['modulus n', String(rs.jwk.n)],
          ['decoded modulus', Buffer.from(String(rs.jwk.n), 'base64url')],
        ];
        for (const alg of ['HS256', 'HS384', 'HS512'] as const) {
          for (const [label, secret] of secrets) {
            for (const kid of ['rs-1', undefined]) {
              const token = hmacForge(alg, secret, kid ? { kid, typ: 'JWT' } : {}, claims());
              const answer = await ask(started.url, token);
              assert.equal(answer.status, 401, `${alg} keyed with the ${label}, kid ${kid}`);
              assert.equal(answer.code, 'bearer_invalid');
            }
          }
        }
        // The algorithm is refused before any key is looked up: nothing was fetched for them.
        assert.equal(jwks.requests, 0);
      },
    );

    it('refuses alg none in any spelling, with or without a signature', BOUNDED, async () => {
      const genuine = forge({ alg: 'RS256', kid: 'rs-1' }, claims(), rs);
      const signature = genuine.split('.')[2];
      for (const alg of ['none', 'None', 'NONE', 'nOnE', '', null]) {
        for (const tail of ['', signature]) {
          const token = `${b64({ alg, kid: 'rs-1' })}.${b64(claims())}.${tail}`;
          const answer = await ask(started.url, token);
          assert.equal(answer.status, 401, `alg ${alg} ${tail ? 'with' : 'without'} a signature`);
          assert.equal(answer.code, 'bearer_invalid');
        }
      }
    });

    it(
      'issues tickets for genuine RS256, PS256 and ES256 tokens (the control)',
      BOUNDED,
      async () => {
        for (const [alg, key] of [
          ['RS256', rs],
          ['PS256', ps],
          ['ES256', ec],
        ] as const) {
          const answer = await ask(started.url, forge({ alg, kid: key.kid }, claims(), key));
          assert.equal(answer.status, 201, alg);
        }
      },
    );

    it(
      'never trusts a key the token carries or points to (jwk, jku, x5u, x5c)',
      BOUNDED,
      async () => {
        const attacker = await generateKeyPair('RS256', { extractable: true });
        const attackerJwk: JWK = {
          ...(await exportJWK(attacker.publicKey)),
          kid: 'rs-1',
          alg: 'RS256',
        };
        const lure = await hostileServer((_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ keys: [attackerJwk] }));
        });
        try {
          const headers: Array<Record<string, unknown>> = [
            { alg: 'RS256', jwk: attackerJwk },
            { alg: 'RS256', kid: 'rs-1', jwk: attackerJwk },
            { alg: 'RS256', kid: 'rs-1', jku: `${lure.url}/jwks` },
            { alg: 'RS256', jku: `${lure.url}/jwks` },
            { alg: 'RS256', kid: 'rs-1', x5u: `${lure.url}/cert.pem` },
            { alg: 'RS256', kid: 'rs-1', x5c: ['MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'] },
          ];
          for (const header of headers) {
            const answer = await ask(started.url, forge(header, claims(), attacker.privateKey));
            assert.equal(answer.status, 401, JSON.stringify(Object.keys(header)));
          }
          assert.equal(lure.requests.length, 0, 'the module fetched a URL a token named');
        } finally {
          await lure.close();
        }
      },
    );

    it('refuses a key used with an algorithm its JWK does not allow', BOUNDED, async () => {
      const cases: Array<[string, Record<string, unknown>, TestKey]> = [
        ['PS256 on the RS256 key', { alg: 'PS256', kid: 'rs-1' }, rs],
        ['RS384 on the RS256 key', { alg: 'RS384', kid: 'rs-1' }, rs],
        ['RS256 on the PS256 key', { alg: 'RS256', kid: 'ps-1' }, ps],
        ['ES256 naming the RSA key', { alg: 'ES256', kid: 'rs-1' }, ec],
        ['ES384 on the P-256 key', { alg: 'ES384', kid: 'ec-1' }, ec],
        ['a kid that is a list', { alg: 'RS256', kid: ['rs-1'] }, rs],
      ];
      for (const [label, header, key] of cases) {
        const answer = await ask(started.url, forge(header, claims(), key));
        assert.equal(answer.status, 401, label);
        assert.equal(answer.code, 'bearer_invalid', label);
      }
    });

    it(
      'refuses unknown crit extensions and an unencoded payload even when the provider signed them',
      BOUNDED,
      async () => {
        const critical = forge({ alg: 'RS256', kid: 'rs-1', crit: ['exp'], exp: 1 }, claims(), rs);
        assert.equal((await ask(started.url, critical)).status, 401, 'crit: ["exp"]');
        // b64: false with a payload that still looks like base64url, so it passes the header shape.
        const head = b64({ alg: 'RS256', kid: 'rs-1', b64: false, crit: ['b64'] });
        const raw = b64(claims());
        const data = Buffer.from(`${head}.${raw}`);
        const signature = sign('sha256', data, KeyObject.from(rs.privateKey)).toString('base64url');
        assert.equal(
          (await ask(started.url, `${head}.${raw}.${signature}`)).status,
          401,
          'b64: false',
        );
      },
    );

    it(
      'refuses a payload changed after signing and a signature moved to another kid',
      BOUNDED,
      async () => {
        const genuine = forge({ alg: 'RS256', kid: 'rs-1' }, claims(), rs);
        const [head, , signature] = genuine.split('.');
        const changed = `${head}.${b64(claims({ sub: 'admin' }))}.${signature}`;
        assert.equal((await ask(started.url, changed)).status, 401);
        const [, payload] = genuine.split('.');
        const moved = `${b64({ alg: 'PS256', kid: 'ps-1' })}.${payload}.${signature}`;
        assert.equal((await ask(started.url, moved)).status, 401);
      },
    );
  });

  describe(`Issuer routing between sources [${platform}]`, () => {
    const ISSUER_A = 'https://a.idp.test/';
    const ISSUER_B = 'https://b.idp.test/';
    let a: TestKey;
    let b: TestKey;
    let serverA: JwksServer;
    let serverB: JwksServer;
    let started: StartedApp;
    const fetches = () => serverA.requests + serverB.requests;

    before(async () => {
      // Both providers serve a key named `shared`: kids must be scoped per source.
      [a, b] = await Promise.all([makeKey('RS256', 'shared'), makeKey('RS256', 'shared')]);
      [serverA, serverB] = await Promise.all([JwksServer.start([a]), JwksServer.start([b])]);
      started = await startIdpApp(platform, [
        { jwks: { uri: serverA.uri, cooldown: 3600 }, issuer: ISSUER_A, audience: AUDIENCE },
        { jwks: { uri: serverB.uri, cooldown: 3600 }, issuer: ISSUER_B, audience: AUDIENCE },
      ]);
    });
    after(async () => {
      await started.close();
      await Promise.all([serverA.stop(), serverB.stop()]);
    });

    it('issues tickets to each provider for its own tokens (the control)', BOUNDED, async () => {
      const tokenA = forge({ alg: 'RS256', kid: 'shared' }, claims({ iss: ISSUER_A }), a);
      const tokenB = forge({ alg: 'RS256', kid: 'shared' }, claims({ iss: ISSUER_B }), b);
      assert.equal((await ask(started.url, tokenA)).status, 201);
      assert.equal((await ask(started.url, tokenB)).status, 201);
    });

    it(
      "refuses B's token claiming A's issuer, though A serves a key of the same kid",
      BOUNDED,
      async () => {
        const token = forge({ alg: 'RS256', kid: 'shared' }, claims({ iss: ISSUER_A }), b);
        const answer = await ask(started.url, token);
        assert.equal(answer.status, 401);
        assert.equal(answer.code, 'bearer_invalid');
      },
    );

    it(
      'reads the same iss for routing and verification when the payload repeats the key',
      BOUNDED,
      async () => {
        const exp = nowSeconds() + 600;
        const lastIsA = `{"sub":"user-1","iss":"${ISSUER_B}","aud":"${AUDIENCE}","exp":${exp},"iss":"${ISSUER_A}"}`;
        const firstIsA = `{"sub":"user-1","iss":"${ISSUER_A}","aud":"${AUDIENCE}","exp":${exp},"iss":"${ISSUER_B}"}`;
        assert.equal(
          (await ask(started.url, forge({ alg: 'RS256', kid: 'shared' }, lastIsA, b))).status,
          401,
        );
        assert.equal(
          (await ask(started.url, forge({ alg: 'RS256', kid: 'shared' }, firstIsA, a))).status,
          401,
        );
      },
    );

    it(
      'refuses an iss that is a list, a number, an object, a look-alike or differs by a slash, without fetching any key set',
      BOUNDED,
      async () => {
        const before = fetches();
        const odd: unknown[] = [
          [ISSUER_A],
          [ISSUER_A, ISSUER_B],
          42,
          { toString: ISSUER_A },
          'https://a.idp.test',
          'https://a.idp.test//',
          'https://а.idp.test/', // Cyrillic а
          'HTTPS://A.IDP.TEST/',
          `${ISSUER_A}\u0000`,
          '',
          null,
        ];
        for (const iss of odd) {
          const answer = await ask(
            started.url,
            forge({ alg: 'RS256', kid: 'shared' }, claims({ iss }), a),
          );
          assert.equal(answer.status, 401, JSON.stringify(iss));
          assert.equal(answer.code, 'bearer_invalid');
          assert.equal(answer.body.message, "The bearer token's issuer is not accepted.");
        }
        assert.equal(fetches(), before);
      },
    );
  });

  describe(`A catch-all source beside a provider [${platform}]`, () => {
    let idp: TestKey;
    let jwks: JwksServer;
    let started: StartedApp;

    before(async () => {
      idp = await makeKey('RS256', 'idp-1');
      jwks = await JwksServer.start([idp]);
      started = await startIdpApp(platform, [
        { jwks: { uri: jwks.uri, cooldown: 3600 }, issuer: ISSUER, audience: AUDIENCE },
        { secret: TEST_SECRET },
      ]);
    });
    after(async () => {
      await started.close();
      await jwks.stop();
    });

    it(
      "does not verify the provider's tokens with the app's secret source when their iss is bent",
      BOUNDED,
      async () => {
        for (const iss of ['https://idp.test', [ISSUER], undefined, 'https://idp.tеst/']) {
          const token = forge({ alg: 'RS256', kid: 'idp-1' }, claims({ iss }), idp);
          assert.equal((await ask(started.url, token)).status, 401, JSON.stringify(iss));
        }
        // HS256 tokens keyed with the provider's public key reach the secret source and fail there.
        for (const iss of ['other', ISSUER]) {
          const token = hmacForge('HS256', idp.pem, { kid: 'idp-1' }, claims({ iss }));
          assert.equal((await ask(started.url, token)).status, 401, `HS256 with iss ${iss}`);
        }
        // The app's own tokens keep working through the catch-all.
        assert.equal((await ask(started.url, signJwt({ sub: 'own-1' }))).status, 201);
      },
    );
  });

  describe(`The fetch policy: one fetch per cooldown whatever asks [${platform}]`, () => {
    it('fetches at most once per cooldown through unknown kids, kid-less tokens, stale sets and every kind of failure, and cached keys answer throughout', {
      timeout: 60_000,
    }, async () => {
      const key = await makeKey('RS256', 'live');
      const stranger = await makeKey('RS256', 'stranger');
      const jwks = await JwksServer.start([key]);
      const started = await startIdpApp(platform, {
        jwks: { uri: jwks.uri, cooldown: 1, cacheMaxAge: 1, timeout: 300 },
        issuer: ISSUER,
        audience: AUDIENCE,
      });
      try {
        const good = await signWith(key, { sub: 'user-1' }, { issuer: ISSUER, audience: AUDIENCE });
        assert.equal((await ask(started.url, good)).status, 201);
        const modes = ['error', 'hang', 'garbage', 'huge', 'ok'] as const;
        const start = performance.now();
        const fetchesBefore = jwks.requests;
        const goodStatuses = new Set<number>();
        const otherStatuses = new Set<number>();
        for (let round = 0; performance.now() - start < 5000; round++) {
          jwks.mode = modes[Math.floor((performance.now() - start) / 700) % modes.length];
          const [g, ...others] = await Promise.all([
            ask(started.url, good),
            ask(
              started.url,
              await signWith(
                stranger,
                { sub: 'x' },
                { issuer: ISSUER, audience: AUDIENCE, kid: `made-up-${round}` },
              ),
            ),
            ask(
              started.url,
              await signWith(
                stranger,
                { sub: 'x' },
                { issuer: ISSUER, audience: AUDIENCE, kid: null },
              ),
            ),
            ask(
              started.url,
              await signWith(
                key,
                { sub: 'x' },
                { issuer: ISSUER, audience: AUDIENCE, kid: 'live', expiresIn: -60 },
              ),
            ),
          ]);
          goodStatuses.add(g.status);
          for (const other of others) otherStatuses.add(other.status);
        }
        const elapsed = performance.now() - start;
        // At most one fetch per started second of the run (cooldown 1 s), plus the one in flight.
        const allowed = Math.floor(elapsed / 1000) + 1;
        const made = jwks.requests - fetchesBefore;
        assert.ok(
          made <= allowed,
          `${made} fetches in ${Math.round(elapsed)} ms (at most ${allowed})`,
        );
        assert.deepEqual([...goodStatuses], [201], 'a cached key stopped answering');
        for (const status of otherStatuses)
          assert.ok(status === 401 || status === 503, String(status));
      } finally {
        await started.close();
        await jwks.stop();
      }
    });

    it(
      'shares one key set between the ticket endpoint and the injected verifier',
      BOUNDED,
      async () => {
        const key = await makeKey('ES256', 'k');
        const jwks = await JwksServer.start([key]);
        const started = await startIdpApp(platform, {
          jwks: { uri: jwks.uri, cooldown: 3600 },
          issuer: ISSUER,
          audience: AUDIENCE,
        });
        try {
          const good = await signWith(
            key,
            { sub: 'user-1' },
            { issuer: ISSUER, audience: AUDIENCE },
          );
          assert.equal((await ask(started.url, good)).status, 201);
          const verifier = started.app.get(WsTicketBearerVerifier);
          assert.equal((await verifier.verify(`Bearer ${good}`)).sub, 'user-1');
          const unknown = await signWith(
            key,
            { sub: 'x' },
            { issuer: ISSUER, audience: AUDIENCE, kid: 'new' },
          );
          await assert.rejects(verifier.verify(`Bearer ${unknown}`), { code: 'bearer_invalid' });
          assert.equal((await ask(started.url, unknown)).status, 401);
          assert.equal(jwks.requests, 1);
        } finally {
          await started.close();
          await jwks.stop();
        }
      },
    );

    it(
      'makes one fetch for 200 concurrent unknown kids while it hangs, answers them all 503, then refuses at once without fetching',
      BOUNDED,
      async () => {
        const key = await makeKey('RS256', 'k');
        const jwks = await JwksServer.start([key]);
        jwks.mode = 'hang';
        const started = await startIdpApp(platform, {
          jwks: { uri: jwks.uri, cooldown: 60, timeout: 1000 },
          issuer: ISSUER,
          audience: AUDIENCE,
        });
        try {
          const tokens = await Promise.all(
            Array.from({ length: 200 }, (_, i) =>
              signWith(
                key,
                { sub: `u${i}` },
                { issuer: ISSUER, audience: AUDIENCE, kid: `kid-${i}` },
              ),
            ),
          );
          const answers = await Promise.all(tokens.map((token) => ask(started.url, token)));
          assert.equal(jwks.requests, 1);
          for (const answer of answers) {
            assert.equal(answer.status, 503);
            assert.equal(answer.code, 'jwks_unavailable');
            const retryAfter = Number(answer.retryAfter);
            assert.ok(
              Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60,
              String(answer.retryAfter),
            );
          }
          jwks.mode = 'ok';
          const again = await Promise.all(
            tokens.slice(0, 50).map((token) => ask(started.url, token)),
          );
          for (const answer of again) assert.equal(answer.status, 503);
          assert.equal(jwks.requests, 1, 'a request during the cooldown after a failure fetched');
        } finally {
          await started.close();
          await jwks.stop();
        }
      },
    );
  });

  describe(`A key set endpoint that answers slowly, hugely or elsewhere [${platform}]`, () => {
    let key: TestKey;
    let token: string;
    let body: string;

    before(async () => {
      key = await makeKey('RS256', 'k1');
      token = await signWith(key, { sub: 'user-1' }, { issuer: ISSUER, audience: AUDIENCE });
      body = JSON.stringify({ keys: [key.jwk] });
    });

    /** Starts an app on a hostile endpoint, asks once, and hands both to `check`. */
    async function against(
      handler: HostileHandler,
      check: (answer: TicketAnswer, server: HostileServer) => void | Promise<void>,
    ): Promise<void> {
      const server = await hostileJwks(handler);
      const started = await startIdpApp(platform, {
        jwks: { uri: server.uri, cooldown: 3600, timeout: 500 },
        issuer: ISSUER,
        audience: AUDIENCE,
      });
      try {
        await check(await ask(started.url, token), server);
      } finally {
        await started.close();
        await server.close();
      }
    }

    const unavailable = (answer: TicketAnswer) => {
      assert.equal(answer.status, 503);
      assert.equal(answer.code, 'jwks_unavailable');
      assert.ok(Number(answer.retryAfter) >= 1);
    };

    it('gives up on headers that never come, within the bound of the test', BOUNDED, async () => {
      await against(() => {}, unavailable);
    });

    it('gives up on a body trickled a byte at a time', BOUNDED, async () => {
      await against((_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        const timer = setInterval(() => res.write(' '), 50);
        res.on('close', () => clearInterval(timer));
      }, unavailable);
    });

    it(
      'gives up on a body that is complete but never ends, or shorter than its Content-Length',
      BOUNDED,
      async () => {
        await against((_req, res) => {
          res.writeHead(200, {
            'content-type': 'application/json',
            'content-length': body.length + 100,
          });
          res.write(body);
        }, unavailable);
      },
    );

    it('stops reading a chunked body past 512 KiB', BOUNDED, async () => {
      const huge = lazyBody(256 * 1024 * 1024, false);
      await against(huge, (answer) => {
        unavailable(answer);
        assert.ok(huge.written() < 64 * 1024 * 1024, `${huge.written()} bytes were pulled`);
      });
    });

    it(
      'refuses a body whose Content-Length is over 512 KiB without reading it',
      BOUNDED,
      async () => {
        const huge = lazyBody(256 * 1024 * 1024, true);
        await against(huge, (answer) => {
          unavailable(answer);
          assert.ok(huge.written() < 64 * 1024 * 1024, `${huge.written()} bytes were pulled`);
        });
      },
    );

    it('counts the decompressed size of a gzip body (a 40 MB bomb)', BOUNDED, async () => {
      const bomb = gzipSync(
        Buffer.concat([
          Buffer.from('{"keys":[],"pad":"'),
          Buffer.alloc(40 * 1024 * 1024, 0x61),
          Buffer.from('"}'),
        ]),
      );
      await against((_req, res) => {
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-encoding': 'gzip',
          'content-length': bomb.length,
        });
        res.end(bomb);
      }, unavailable);
    });

    it('does not follow a redirect, not even to a valid key set', BOUNDED, async () => {
      for (const status of [301, 302, 303, 307, 308]) {
        await against(
          (req, res) => {
            if (req.url === '/jwks') res.writeHead(status, { location: '/moved' }).end();
            else res.writeHead(200, { 'content-type': 'application/json' }).end(body);
          },
          (answer, server) => {
            unavailable(answer);
            assert.deepEqual(
              server.requests.map((request) => request.path),
              ['/jwks'],
              String(status),
            );
          },
        );
      }
    });

    it(
      'survives a key set of 2000 keys and malformed keys: the right key verifies, the others refuse',
      BOUNDED,
      async () => {
        const ec = await makeKey('ES256', 'ec-real');
        const filler = Array.from({ length: 2000 }, (_, i) => ({ ...ec.jwk, kid: `filler-${i}` }));
        const malformed: JWK[] = [
          { kty: 'RSA', kid: 'bad-n', alg: 'RS256', n: '!!!', e: 'AQAB' },
          { kty: 'RSA', kid: 'short', alg: 'RS256', n: 'AQAB', e: 'AQAB' },
          { ...key.jwk, kid: 'private', d: 'AQAB' },
          { kty: 'oct', kid: 'oct', alg: 'HS256', k: b64(TEST_SECRET) },
          { ...key.jwk, kid: 'sign-only', key_ops: ['sign'] },
          { ...key.jwk, kid: 'enc', use: 'enc' },
          { kty: 'EC', kid: 'bad-curve', crv: 'P-999', x: 'AA', y: 'AA' },
        ];
        const set = JSON.stringify({ keys: [...filler, ...malformed, ec.jwk] });
        assert.ok(set.length < 512 * 1024, `${set.length} bytes`);
        const server = await hostileJwks((_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' }).end(set);
        });
        const started = await startIdpApp(platform, {
          jwks: { uri: server.uri, cooldown: 3600 },
          issuer: ISSUER,
          audience: AUDIENCE,
        });
        try {
          const good = await signWith(
            ec,
            { sub: 'user-1' },
            { issuer: ISSUER, audience: AUDIENCE },
          );
          assert.equal((await ask(started.url, good)).status, 201);
          for (const kid of ['bad-n', 'short', 'private', 'sign-only', 'enc']) {
            const forged = forge({ alg: 'RS256', kid }, claims(), key);
            assert.equal((await ask(started.url, forged)).status, 401, kid);
          }
          assert.equal(
            (await ask(started.url, hmacForge('HS256', TEST_SECRET, { kid: 'oct' }, claims())))
              .status,
            401,
          );
          assert.equal(
            (await ask(started.url, forge({ alg: 'ES256', kid: 'bad-curve' }, claims(), ec)))
              .status,
            401,
          );
          // Still answering, with one fetch for all of it.
          assert.equal((await ask(started.url, good)).status, 201);
          assert.equal(server.requests.length, 1);
        } finally {
          await started.close();
          await server.close();
        }
      },
    );
  });

  describe(`While the provider is down [${platform}]`, () => {
    const logger = new CaptureLogger();
    let key: TestKey;
    let jwks: JwksServer;
    let started: StartedApp;
    const sent: string[] = [];

    before(async () => {
      key = await makeKey('RS256', 'cached');
      jwks = await JwksServer.start([key]);
      started = await startIdpApp(
        platform,
        { jwks: { uri: jwks.uri, cooldown: 1, timeout: 500 }, issuer: ISSUER, audience: AUDIENCE },
        {},
        logger,
      );
      const good = await signWith(key, { sub: 'user-1' }, { issuer: ISSUER, audience: AUDIENCE });
      sent.push(good);
      assert.equal((await ask(started.url, good)).status, 201);
      jwks.mode = 'error';
    });
    after(async () => {
      await started.close();
      await jwks.stop();
    });

    /** A token naming a kid the cache does not hold (so it needs a fetch). */
    async function uncached(): Promise<string> {
      const token = await signWith(
        key,
        { sub: 'user-2' },
        { issuer: ISSUER, audience: AUDIENCE, kid: `rotated-${sent.length}` },
      );
      sent.push(token);
      return token;
    }

    it(
      'answers 503 jwks_unavailable with a sane Retry-After and a fixed body once a fetch failed',
      BOUNDED,
      async () => {
        let answer: TicketAnswer | undefined;
        await until(async () => {
          answer = await ask(started.url, await uncached());
          return answer.status === 503;
        });
        const { body, retryAfter } = answer as TicketAnswer;
        assert.deepEqual(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode']);
        assert.equal(body.code, 'jwks_unavailable');
        assert.equal(body.statusCode, 503);
        assert.ok(
          /^[1-9][0-9]*$/.test(String(retryAfter)) && Number(retryAfter) <= 1,
          String(retryAfter),
        );
        assert.doesNotMatch(JSON.stringify(body), /200 OK|JSON Web Key|fetch|127\.0\.0\.1|JOSE/i);
      },
    );

    it(
      'keeps verifying tokens whose key is cached through every kind of outage, even while a fetch hangs',
      BOUNDED,
      async () => {
        const good = sent[0];
        for (const mode of ['error', 'hang', 'garbage', 'huge'] as const) {
          jwks.mode = mode;
          // Wait for the cooldown to let a token of an uncached kid make a fetch in this mode.
          const before = jwks.requests;
          let needing: Promise<TicketAnswer> | undefined;
          await until(async () => {
            needing = ask(started.url, await uncached());
            await new Promise((resolve) => setTimeout(resolve, 50));
            if (jwks.requests > before) return true;
            await needing;
            return false;
          });
          // The fetch is in flight (or done): the cached key answers all the same.
          assert.equal((await ask(started.url, good)).status, 201, mode);
          const answer = await (needing as Promise<TicketAnswer>);
          assert.equal(answer.status, 503, `${mode}: ${answer.status} ${answer.code}`);
        }
        await jwks.stop();
        assert.equal((await ask(started.url, good)).status, 201, 'stopped');
      },
    );

    it(
      'logs the failure once per minute, naming the endpoint, and never a token',
      BOUNDED,
      async () => {
        // This provider's lines; a window that ends under load adds a count line ("N more in the
        // last 60 s"), for this provider or an earlier test's, which is no second log of it.
        const failures = logger.lines.filter(
          (line) =>
            line.includes(`JWKS fetch failed (${jwks.uri})`) &&
            !/ more in the last \d+ s/.test(line),
        );
        assert.equal(failures.length, 1, failures.join('\n'));
        assert.ok(failures[0].includes(`JWKS fetch failed (${jwks.uri})`), failures[0]);
        for (const token of sent) {
          const signature = token.split('.')[2];
          for (const line of logger.lines) {
            assert.ok(!line.includes(signature), `a log line holds a token: ${line.slice(0, 120)}`);
          }
        }
      },
    );
  });

  describe(`A flood of junk bearers [${platform}]`, () => {
    it('stays bounded and responsive through 10,000 junk, unknown-kid, kid-less, oversized and confused bearers', {
      timeout: 180_000,
    }, async () => {
      const key = await makeKey('ES256', 'real');
      const stranger = await makeKey('ES256', 'stranger');
      const jwks = await JwksServer.start([key]);
      const started = await startIdpApp(platform, {
        jwks: { uri: jwks.uri, cooldown: 5 },
        issuer: ISSUER,
        audience: AUDIENCE,
      });
      try {
        const good = await signWith(key, { sub: 'user-1' }, { issuer: ISSUER, audience: AUDIENCE });
        assert.equal((await ask(started.url, good)).status, 201);
        const unknown = await signWith(
          stranger,
          { sub: 'x' },
          { issuer: ISSUER, audience: AUDIENCE },
        );
        const junk = [
          () => 'not.a.jwt',
          () => `${b64({ alg: 'ES256', kid: crypto.randomUUID() })}.${b64(claims())}.${b64('sig')}`,
          () => `${b64({ alg: 'ES256' })}.${b64(claims())}.${b64('sig')}`,
          () => `${unknown.slice(0, -4)}AAAA`,
          () => hmacForge('HS256', key.pem, { kid: 'real' }, claims()),
          () => `${b64({ alg: 'ES256', kid: 'x'.repeat(6000) })}.${b64(claims())}.AAAA`,
          () => 'A'.repeat(9000),
        ];
        const statuses = new Map<number, number>();
        const start = performance.now();
        let next = 0;
        const worker = async () => {
          while (next < 10_000) {
            const make = junk[next++ % junk.length];
            const response = await requestTicket(started.url, make());
            await response.arrayBuffer();
            statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          }
        };
        await Promise.all(Array.from({ length: 32 }, worker));
        const elapsed = performance.now() - start;
        for (const status of statuses.keys()) {
          assert.ok(status === 401 || status === 431 || status === 400, `status ${status}`);
        }
        const allowed = Math.floor(elapsed / 5000) + 2;
        assert.ok(jwks.requests <= allowed, `${jwks.requests} fetches (at most ${allowed})`);
        const verifier = started.app.get(WsTicketBearerVerifier) as unknown as {
          failures: { size: number };
        };
        assert.ok(verifier.failures.size <= 1);
        assert.ok(internalsOf(started.app).internals.refusals.size <= 4);
        assert.equal((await ask(started.url, good)).status, 201);
      } finally {
        await started.close();
        await jwks.stop();
      }
    });
  });

  describe(`A jwks.uri whose query holds a key [${platform}]`, () => {
    it('never logs the query, whatever the fetch fails with', BOUNDED, async () => {
      const QUERY_KEY = 'q-key-5d1e0b';
      const server = await hostileJwks((_req, res) => res.writeHead(503).end());
      const logger = new CaptureLogger();
      const started = await startIdpApp(
        platform,
        {
          jwks: { uri: `${server.uri}?api_key=${QUERY_KEY}`, cooldown: 1 },
          issuer: ISSUER,
          audience: AUDIENCE,
        },
        {},
        logger,
      );
      try {
        const key = await makeKey('RS256', 'k');
        const token = await signWith(key, { sub: 'u' }, { issuer: ISSUER, audience: AUDIENCE });
        assert.equal((await ask(started.url, token)).status, 503);
        assert.equal(server.requests[0]?.path, `/jwks?api_key=${QUERY_KEY}`);
        assert.ok(logger.lines.some((line) => line.includes(`JWKS fetch failed (${server.uri})`)));
        for (const line of logger.lines) assert.ok(!line.includes(QUERY_KEY), line);
      } finally {
        await started.close();
        await server.close();
      }
    });
  });

  // Findings: each test below fails on main (ea0d725); its name says what it expects instead.

  describe(`A jwks.uri with credentials [${platform}]`, () => {
    const PASSWORD = 'S3cr3t-Passw0rd';

    it(
      'stops the app at startup without quoting the password, or fetches the key set: it never starts and refuses every token',
      BOUNDED,
      async () => {
        const key = await makeKey('RS256', 'k1');
        const jwks = await JwksServer.start([key]);
        const uri = jwks.uri.replace('http://', `http://svc-reader:${PASSWORD}@`);
        const logger = new CaptureLogger();
        try {
          let started: StartedApp;
          try {
            started = await startIdpApp(
              platform,
              { jwks: { uri, cooldown: 1 }, issuer: ISSUER, audience: AUDIENCE },
              {},
              logger,
            );
          } catch (error) {
            assert.match((error as Error).message, /jwks\.uri/);
            assert.ok(!(error as Error).message.includes(PASSWORD), (error as Error).message);
            return;
          }
          try {
            const good = await signWith(
              key,
              { sub: 'user-1' },
              { issuer: ISSUER, audience: AUDIENCE },
            );
            const answer = await ask(started.url, good);
            assert.equal(
              answer.status,
              201,
              `the app started, then answered ${answer.status} ${answer.code} (JWKS requests received: ${jwks.requests})`,
            );
          } finally {
            await started.close();
          }
        } finally {
          await jwks.stop();
          for (const line of logger.lines) assert.ok(!line.includes(PASSWORD), line);
        }
      },
    );
  });

  describe(`Tokens without a kid [${platform}]`, () => {
    let old: TestKey;
    let current: TestKey;
    let jwks: JwksServer;
    let started: StartedApp;

    before(async () => {
      [old, current] = await Promise.all([makeKey('RS256', 'old'), makeKey('RS256', 'current')]);
      jwks = await JwksServer.start([old, current]);
      started = await startIdpApp(platform, {
        jwks: { uri: jwks.uri, cooldown: 3600 },
        issuer: ISSUER,
        audience: AUDIENCE,
      });
    });
    after(async () => {
      await started.close();
      await jwks.stop();
    });

    it(
      'verify while the provider publishes two keys of their algorithm (during a rotation)',
      BOUNDED,
      async () => {
        const stranger = await makeKey('RS256', 'stranger');
        const forged = await signWith(
          stranger,
          { sub: 'x' },
          { issuer: ISSUER, audience: AUDIENCE, kid: null },
        );
        assert.equal((await ask(started.url, forged)).status, 401, 'a kid-less forgery');
        for (const key of [current, old]) {
          const token = await signWith(
            key,
            { sub: 'user-1' },
            { issuer: ISSUER, audience: AUDIENCE, kid: null },
          );
          const answer = await ask(started.url, token);
          assert.equal(
            answer.status,
            201,
            `kid-less token of the ${key.kid} key: ${answer.status} ${answer.code}`,
          );
        }
      },
    );
  });

  describe(`Several issuers sharing the default user id [${platform}]`, () => {
    it(
      "warns at startup, or keeps one issuer's user from spending another's issuance limit with the same sub",
      BOUNDED,
      async () => {
        const idp = await makeKey('RS256', 'idp-1');
        const jwks = await JwksServer.start([idp]);
        const logger = new CaptureLogger();
        const started = await startIdpApp(
          platform,
          [
            { secret: TEST_SECRET, issuer: 'my-app' },
            { jwks: { uri: jwks.uri }, issuer: ISSUER, audience: AUDIENCE },
          ],
          { issueLimit: { limit: 2, window: 60 } },
          logger,
        );
        try {
          const warned = logger.lines.some((line) => /getUserId/.test(line));
          if (warned) return;
          // The provider's user "42" (whoever registered there) asks for tickets…
          const outsider = await signWith(
            idp,
            { sub: '42' },
            { issuer: ISSUER, audience: AUDIENCE },
          );
          for (let i = 0; i < 2; i++) assert.equal((await ask(started.url, outsider)).status, 201);
          // …and the app's own user 42 must not pay for it.
          const own = signJwt({ sub: '42', iss: 'my-app' });
          const answer = await ask(started.url, own);
          assert.equal(
            answer.status,
            201,
            `no startup warning about getUserId, and the app's user 42 got ${answer.status} ${answer.code} after the provider's user 42 took two tickets`,
          );
        } finally {
          await started.close();
          await jwks.stop();
        }
      },
    );
  });
}

describe('Startup checks that hold [express]', () => {
  it(
    'refuse empty issuers and audiences, HMAC or none for a JWKS, and untrimmed names, without quoting secrets',
    BOUNDED,
    async () => {
      const jwks = { uri: 'https://idp.test/jwks' };
      const cases: Array<[string, unknown, RegExp]> = [
        ["issuer ''", { jwks, issuer: '', audience: AUDIENCE }, /jwt\.issuer/],
        ["issuer ['']", { jwks, issuer: [''], audience: AUDIENCE }, /jwt\.issuer/],
        ['audience []', { jwks, issuer: ISSUER, audience: [] }, /jwt\.audience/],
        [
          'algorithms []',
          { jwks, issuer: ISSUER, audience: AUDIENCE, algorithms: [] },
          /algorithms/,
        ],
        ["algorithms ['none']", { jwks, algorithms: ['none'] }, /algorithms/],
        ["algorithms ['HS256'] for a JWKS", { jwks, algorithms: ['HS256'] }, /asymmetric/],
        ["algorithms ['RS256 ']", { jwks, algorithms: ['RS256 '] }, /algorithms/],
        ['the public key as the secret', { secret: '__PEM__' }, /PEM key/],
        ['a jwks.uri of another scheme', { jwks: { uri: 'file:///etc/passwd' } }, /jwks\.uri/],
        ['cooldown 0', { jwks: { ...jwks, cooldown: 0 } }, /cooldown/],
        ['two sources without issuer', [{ secret: TEST_SECRET }, { jwks }], /issuer/],
        [
          'two sources naming one issuer',
          [
            { secret: TEST_SECRET, issuer: 'x' },
            { jwks, issuer: ['y', 'x'] },
          ],
          /both name/,
        ],
      ];
      const rsa = await makeKey('RS256', 'r');
      for (const [label, raw, expected] of cases) {
        const jwt = JSON.parse(JSON.stringify(raw).replace('"__PEM__"', JSON.stringify(rsa.pem)));
        await assert.rejects(
          startIdpApp('express', jwt),
          (error: Error) => {
            assert.match(error.message, expected, label);
            assert.ok(
              !error.message.includes(TEST_SECRET) && !error.message.includes('BEGIN PUBLIC KEY'),
              label,
            );
            return true;
          },
          label,
        );
      }
    },
  );
});

describe('Startup checks of the jwt option [express]', () => {
  it(
    'stop the app when jwks.headers holds an invalid value, without quoting the value',
    BOUNDED,
    async () => {
      const SECRET_PART = 'k3y-7f3a9c';
      const logger = new CaptureLogger();
      let message = '';
      try {
        const started = await startIdpApp(
          'express',
          {
            jwks: {
              uri: 'https://idp.test/jwks',
              headers: { 'x-api-key': `${SECRET_PART}\u0000tail` },
            },
            issuer: ISSUER,
            audience: AUDIENCE,
          },
          {},
          logger,
        );
        await started.close();
      } catch (error) {
        message = (error as Error).message;
      }
      assert.ok(message !== '', 'the app started with a header value fetch() refuses');
      assert.match(message, /jwks\.headers/, message);
      assert.ok(
        !message.includes(SECRET_PART),
        `the startup error quotes the header value: ${JSON.stringify(message)}`,
      );
      for (const line of logger.lines) {
        assert.ok(
          !line.includes(SECRET_PART),
          `a log line quotes the header value: ${JSON.stringify(line.slice(0, 160))}`,
        );
      }
    },
  );

  it(
    'stop the app when a publicKey source lists only algorithms its key cannot verify',
    BOUNDED,
    async () => {
      const rsa = await makeKey('RS256', 'r');
      const ec = await makeKey('ES256', 'e');
      const cases: Array<[string, WsTicketJwtOptions]> = [
        ['an RSA key with ES256', { publicKey: rsa.pem, algorithms: ['ES256'] }],
        ['a P-256 key with ES384', { publicKey: ec.pem, algorithms: ['ES384'] }],
        ['a P-256 key with RS256', { publicKey: ec.pem, algorithms: ['RS256'] }],
      ];
      const owner = (jwt: WsTicketJwtOptions) => (jwt.publicKey === rsa.pem ? rsa : ec);
      for (const [label, jwt] of cases) {
        let started: StartedApp | undefined;
        try {
          started = await startIdpApp('express', jwt);
        } catch (error) {
          assert.match((error as Error).message, /algorithms/, label);
          continue;
        }
        // What it answers the key's owner, signing with the listed algorithm or the key's own.
        const key = owner(jwt);
        const statuses: number[] = [];
        for (const alg of [...(jwt.algorithms ?? []), key.alg]) {
          const token = forge({ alg }, claims(), key);
          statuses.push((await ask(started.url, token)).status);
        }
        await started.close();
        assert.fail(
          `${label}: the app started, then answered the key owner's tokens ${statuses.join(', ')}`,
        );
      }
    },
  );

  it(
    'refuse or warn about a clockTolerance that disables expiry (seconds given as milliseconds)',
    BOUNDED,
    async () => {
      const logger = new CaptureLogger();
      let started: StartedApp;
      try {
        started = await startIdpApp(
          'express',
          { secret: TEST_SECRET, clockTolerance: 30_000_000 },
          {},
          logger,
        );
      } catch (error) {
        assert.match((error as Error).message, /clockTolerance/);
        return;
      }
      try {
        const warned = logger.lines.some((line) => line.includes('clockTolerance'));
        const expiredLastYear = signJwt({ sub: '1' }, { expiresIn: -300 * 86_400 });
        const answer = await ask(started.url, expiredLastYear);
        assert.ok(
          warned,
          `no startup error nor warning; a token expired 300 days ago was answered ${answer.status}`,
        );
      } finally {
        await started.close();
      }
    },
  );

  it(
    'stop the app when the secret is a public key in another spelling (escaped newlines, JWK JSON, bare base64)',
    BOUNDED,
    async () => {
      const rsa = await makeKey('RS256', 'r');
      const body = rsa.pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
      const spellings: Array<[string, string]> = [
        ['PEM with literal \\n (an env file)', rsa.pem.trim().replace(/\n/g, '\\n')],
        ['the JWK as JSON', JSON.stringify(rsa.jwk)],
        ['the DER body in base64, without armor', body],
      ];
      for (const [label, secret] of spellings) {
        let started: StartedApp | undefined;
        try {
          started = await startIdpApp('express', { secret });
        } catch (error) {
          assert.match((error as Error).message, /jwt\.secret/, label);
          continue;
        }
        // Anyone holding the published key can then sign HS256 tokens the app accepts.
        const forged = hmacForge('HS256', secret, {}, { sub: 'admin', exp: nowSeconds() + 600 });
        const answer = await ask(started.url, forged);
        await started.close();
        assert.fail(
          `${label}: the app started, and a token HMAC-signed with the public key got ${answer.status}`,
        );
      }
    },
  );
});
