import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { type WsTicketClaims, type WsTicketJwksOptions, WsTicketModule } from '../../lib/index.js';
import { ChatTestGateway, type TestUser } from '../fixtures/gateways.js';
import {
  PLATFORMS,
  requestTicket,
  type StartedApp,
  type StartOptions,
  startOn,
} from '../support/app.js';
import { makeKey, type TestKey } from '../support/jwks-server.js';
import {
  API_ES256,
  API_RS256,
  type OidcClient,
  OidcTestProvider,
  OTHER_API,
} from '../support/oidc-provider.js';
import { ask, connected } from '../support/sockets.js';
import { CaptureLogger } from '../ws/fixtures/ws-app.js';

// The `jwks` key source against a real OpenID provider (oidc-provider): the app is configured from
// the provider's discovery document, and every token is an access token the provider issued over
// HTTP from its token endpoint (client_credentials grant, RFC 8707 resource → JWT access token).

const BOUNDED = { timeout: 20_000 };

/** The app's user directory: client ids are user ids (`sub` = `client_id` in this grant). */
const USERS = new Map([
  ['user-1', 'alice'],
  ['user-2', 'bob'],
  ['user-brief', 'carol'],
]);
const CLIENTS: OidcClient[] = [
  { id: 'user-1' },
  { id: 'user-2' },
  // Its access tokens live 1 s: the expired-token test waits that long, not more.
  { id: 'user-brief', accessTokenTTL: 1 },
];

function resolveUser(claims: WsTicketClaims): TestUser | undefined {
  const name = USERS.get(String(claims.sub));
  return name === undefined ? undefined : { id: String(claims.sub), name };
}

/** The module as an app configures it from the provider's discovery document. */
function ticketModule(provider: OidcTestProvider, jwks: Partial<WsTicketJwksOptions> = {}) {
  return WsTicketModule.forRoot({
    jwt: {
      jwks: { uri: provider.discovery.jwks_uri, ...jwks },
      issuer: provider.discovery.issuer,
      audience: [API_RS256, API_ES256],
    },
    resolveUser,
  });
}

async function bodyOf(response: Response): Promise<{ code?: string; message?: string }> {
  return (await response.json()) as { code?: string; message?: string };
}

/** Gets a ticket with `token` and connects to /chat with it; resolves the user the gateway sees. */
async function userSeenBy(url: string, token: string): Promise<unknown> {
  const response = await requestTicket(url, token);
  assert.equal(response.status, 201, `ticket endpoint answered ${response.status}`);
  const { uuid } = (await response.json()) as { uuid: string };
  const socket = await connected(`${url}/chat`, { auth: { uuid } });
  try {
    return await ask(socket, 'whoami');
  } finally {
    socket.close();
  }
}

let rs1: TestKey;
let es1: TestKey;
let rs2: TestKey;

before(async () => {
  [rs1, es1, rs2] = await Promise.all([
    makeKey('RS256', 'rs-1'),
    makeKey('ES256', 'es-1'),
    makeKey('RS256', 'rs-2'),
  ]);
});

for (const platform of PLATFORMS) {
  const start = startOn(platform);

  /** A provider (rs-1 and es-1 unless told), stopped after the test. */
  async function providerFor(t: TestContext, keys = [rs1, es1]): Promise<OidcTestProvider> {
    const provider = await OidcTestProvider.start({ keys, clients: CLIENTS });
    t.after(() => provider.stop());
    return provider;
  }

  /** An app with the gateway, closed after the test. */
  async function appFor(
    t: TestContext,
    provider: OidcTestProvider,
    jwks?: Partial<WsTicketJwksOptions>,
    options?: StartOptions,
  ): Promise<StartedApp> {
    const started = await start(
      { imports: [ticketModule(provider, jwks)], providers: [ChatTestGateway] },
      options,
    );
    t.after(() => started.close());
    return started;
  }

  describe(`jwks from a running OpenID provider (oidc-provider) [${platform}]`, () => {
    let provider: OidcTestProvider;
    let started: StartedApp;

    before(async () => {
      provider = await OidcTestProvider.start({ keys: [rs1, es1], clients: CLIENTS });
      started = await start({ imports: [ticketModule(provider)], providers: [ChatTestGateway] });
    });
    after(async () => {
      await started?.close();
      await provider?.stop();
    });

    const signed = [
      ['RS256', API_RS256, 'user-1', 'alice'],
      ['ES256', API_ES256, 'user-2', 'bob'],
    ] as const;
    for (const [alg, resource, client, name] of signed) {
      it(
        `gets a ticket for an ${alg} access token and connects as the user it names`,
        BOUNDED,
        async () => {
          const token = await provider.accessToken(client, resource);
          assert.equal(decodeProtectedHeader(token).alg, alg);
          assert.deepEqual(await userSeenBy(started.url, token), { id: client, name });
        },
      );
    }

    it(
      'verifies access tokens of both algorithms and several users with one fetch of jwks_uri',
      BOUNDED,
      async (t) => {
        // An app of its own: its first verification is the one that fetches.
        const fresh = await appFor(t, provider);
        const fetches = provider.jwksRequests;
        const tokens = await Promise.all(
          ['user-1', 'user-2'].flatMap((client) => [
            provider.accessToken(client, API_RS256),
            provider.accessToken(client, API_ES256),
          ]),
        );
        // At once (one fetch shared), then one by one (the cache answers).
        const first = await Promise.all(tokens.map((token) => requestTicket(fresh.url, token)));
        assert.deepEqual(
          first.map((response) => response.status),
          [201, 201, 201, 201],
        );
        for (const token of tokens) {
          assert.equal((await requestTicket(fresh.url, token)).status, 201);
        }
        assert.equal(provider.jwksRequests - fetches, 1);
      },
    );

    it(
      'answers 401 bearer_invalid to an access token for another API of the provider (audience)',
      BOUNDED,
      async () => {
        const token = await provider.accessToken('user-1', OTHER_API);
        // Same provider, same key: only the audience differs.
        assert.equal(decodeJwt(token).aud, OTHER_API);
        assert.equal(decodeProtectedHeader(token).kid, rs1.kid);
        const response = await requestTicket(started.url, token);
        assert.equal(response.status, 401);
        assert.equal((await bodyOf(response)).code, 'bearer_invalid');
      },
    );

    it('answers 401 bearer_invalid to an access token once it has expired', BOUNDED, async () => {
      const token = await provider.accessToken('user-brief', API_RS256);
      const { exp } = decodeJwt(token);
      assert.ok(typeof exp === 'number');
      const wait = exp * 1000 - Date.now();
      assert.ok(wait <= 2000, `the token expires in ${wait} ms, not within 1 s`);
      // Expired from second `exp` on (jose, clock tolerance 0); a little past it for certain.
      await sleep(Math.max(0, wait) + 50);
      const response = await requestTicket(started.url, token);
      assert.equal(response.status, 401);
      const body = await bodyOf(response);
      assert.equal(body.code, 'bearer_invalid');
      assert.equal(body.message, 'The bearer token has expired.');
    });
  });

  describe(`jwks while the OpenID provider rotates its key or is down [${platform}]`, () => {
    /** Shortest cooldown worth testing: the tests wait it out, twice at most. */
    const COOLDOWN = 2;

    /**
     * The app has fetched rs-1 (a ticket for `retired`); the provider then rotated to rs-2,
     * issued `rotated` with it, and went down. The app's cooldown after its first fetch has
     * passed (within it, a kid the cached set lacks is refused 401 without a fetch).
     */
    async function rotatedWhileDown(t: TestContext, logger?: CaptureLogger) {
      const provider = await providerFor(t);
      const started = await appFor(t, provider, { cooldown: COOLDOWN }, { logger });
      const retired = await provider.accessToken('user-1', API_RS256);
      assert.equal((await requestTicket(started.url, retired)).status, 201);
      const fetchedAt = performance.now();
      await provider.restart([rs2, es1]);
      const rotated = await provider.accessToken('user-1', API_RS256);
      assert.equal(decodeProtectedHeader(rotated).kid, rs2.kid);
      await provider.stop();
      await sleep(Math.max(0, COOLDOWN * 1000 + 100 - (performance.now() - fetchedAt)));
      return { provider, started, retired, rotated };
    }

    it(
      'gets a ticket, without a fetch, for a token of a key the provider published before signing with it',
      BOUNDED,
      async (t) => {
        // Published ahead: rs-2 is in the set the app fetched, rs-1 still signs.
        const provider = await providerFor(t, [rs1, es1, rs2]);
        const started = await appFor(t, provider);
        const byRs1 = await provider.accessToken('user-1', API_RS256);
        assert.equal(decodeProtectedHeader(byRs1).kid, rs1.kid);
        assert.equal((await requestTicket(started.url, byRs1)).status, 201);
        // The rotation: rs-2 signs now, rs-1 stays published for the tokens it signed.
        await provider.restart([rs2, es1, rs1]);
        const byRs2 = await provider.accessToken('user-2', API_RS256);
        assert.equal(decodeProtectedHeader(byRs2).kid, rs2.kid);
        assert.deepEqual(await userSeenBy(started.url, byRs2), { id: 'user-2', name: 'bob' });
        assert.equal(provider.jwksRequests, 1);
      },
    );

    it(
      'answers 401 bearer_invalid, without a fetch, to a key the provider started signing with within the cooldown of the last fetch',
      BOUNDED,
      async (t) => {
        // Default cooldown (30 s): far longer than this test.
        const provider = await providerFor(t);
        const started = await appFor(t, provider);
        const old = await provider.accessToken('user-1', API_RS256);
        assert.equal((await requestTicket(started.url, old)).status, 201);
        // Rotated without publishing the new key ahead.
        await provider.restart([rs2, es1]);
        const rotated = await provider.accessToken('user-1', API_RS256);
        assert.equal(decodeProtectedHeader(rotated).kid, rs2.kid);
        const response = await requestTicket(started.url, rotated);
        assert.equal(response.status, 401);
        assert.equal((await bodyOf(response)).code, 'bearer_invalid');
        assert.equal(provider.jwksRequests, 1);
      },
    );

    it(
      'gets a ticket for a token whose key is cached while the provider is stopped',
      BOUNDED,
      async (t) => {
        const provider = await providerFor(t);
        const started = await appFor(t, provider);
        const alice = await provider.accessToken('user-1', API_RS256);
        const bob = await provider.accessToken('user-2', API_RS256);
        assert.equal((await requestTicket(started.url, alice)).status, 201);
        await provider.stop();
        assert.deepEqual(await userSeenBy(started.url, bob), { id: 'user-2', name: 'bob' });
        assert.equal(provider.jwksRequests, 1);
      },
    );

    it(
      'answers 503 jwks_unavailable with Retry-After to a token of a key it never fetched while the provider is down',
      BOUNDED,
      async (t) => {
        const logger = new CaptureLogger();
        const { provider, started, retired, rotated } = await rotatedWhileDown(t, logger);
        const response = await requestTicket(started.url, rotated);
        assert.equal(response.status, 503);
        const retryAfter = Number(response.headers.get('retry-after'));
        assert.ok(
          Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= COOLDOWN,
          `Retry-After: ${response.headers.get('retry-after')}`,
        );
        assert.equal((await bodyOf(response)).code, 'jwks_unavailable');
        const log = logger.lines.join('\n');
        assert.ok(
          log.includes(`JWKS fetch failed (${provider.discovery.jwks_uri})`),
          `no fetch failure logged:\n${log}`,
        );
        assert.ok(!log.includes(rotated) && !log.includes(retired), 'a token was logged');
      },
    );

    it(
      'once the provider is back, fetches the rotated key after the cooldown, once: its token gets a ticket, the retired key no longer verifies',
      BOUNDED,
      async (t) => {
        const { provider, started, retired, rotated } = await rotatedWhileDown(t);
        assert.equal((await requestTicket(started.url, rotated)).status, 503);
        await provider.restart();
        const fetches = provider.jwksRequests;
        // Back, but the failed fetch was less than the cooldown ago: answered without asking it.
        const early = await requestTicket(started.url, rotated);
        assert.equal(early.status, 503);
        assert.equal((await bodyOf(early)).code, 'jwks_unavailable');
        assert.equal(provider.jwksRequests, fetches);
        const retryAfter = Number(early.headers.get('retry-after'));
        assert.ok(retryAfter >= 1 && retryAfter <= COOLDOWN, `Retry-After: ${retryAfter}`);
        await sleep(retryAfter * 1000);
        assert.deepEqual(await userSeenBy(started.url, rotated), { id: 'user-1', name: 'alice' });
        assert.equal(provider.jwksRequests, fetches + 1);
        // The provider publishes rs-2 and es-1 now: the refetched set replaced the cached rs-1.
        const stale = await requestTicket(started.url, retired);
        assert.equal(stale.status, 401);
        assert.equal((await bodyOf(stale)).code, 'bearer_invalid');
        assert.equal(provider.jwksRequests, fetches + 1);
      },
    );
  });
}
