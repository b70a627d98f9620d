import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type INestApplicationContext, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import fc from 'fast-check';
import {
  WS_TICKET_REFUSAL_STATUS,
  WsTicketBearerError,
  WsTicketError,
  WsTicketErrorCode,
  type WsTicketHandshake,
  WsTicketModule,
  type WsTicketModuleOptions,
  WsTicketService,
} from '../../lib/index.js';
import { ChatTestGateway } from '../fixtures/gateways.js';
import { CountingStore } from '../fixtures/stores.js';
import { TestUsers } from '../fixtures/users.js';
import { PLATFORMS, type StartedApp, startApp, startOn, ticketFor } from '../support/app.js';
import { RawEngineIo } from '../support/engine-io.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { withDeadline } from '../support/stop-child.js';
import { ConnectionLog, EchoWsGateway, ticketModule } from '../ws/fixtures/gateways.js';
import {
  closeWs,
  openedWs,
  rawUpgrade,
  type StartedWsApp,
  startWsApp,
} from '../ws/fixtures/ws-app.js';

// Property-based fuzzing of every door a client can knock on: the service's consume and bearer
// paths, the ticket endpoint, raw engine.io CONNECT packets and raw WebSocket upgrades. A failure
// prints fast-check's seed and shrunk counterexample; FUZZ_SEED replays a seed, FUZZ_RUNS scales
// the run counts (e.g. FUZZ_RUNS=20 for a long local session).

const RUN_SCALE = Number(process.env.FUZZ_RUNS ?? 1) || 1;
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

function runs<T>(numRuns: number): fc.Parameters<T> {
  return { numRuns: Math.max(1, Math.round(numRuns * RUN_SCALE)), seed: SEED };
}

/** Every wait in this file ends: a hang is a failure, never a stuck suite. */
const BOUND = 5000;

const CODES: ReadonlySet<string> = new Set(Object.values(WsTicketErrorCode));
/** What the ticket endpoint may answer in `code`: the table plus the bearer refusals. */
const ENDPOINT_CODES: ReadonlySet<string> = new Set([
  ...CODES,
  'bearer_missing',
  'bearer_invalid',
  'user_rejected',
]);

/** The only ticket shape the store may ever be asked about (stated here, not imported). */
const V4_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function wellFormed(ticket: unknown): ticket is string {
  return typeof ticket === 'string' && V4_UUID.test(ticket);
}

/** The ticket a handshake presents (README: `auth[param]`, then the query); never an inherited key. */
function presentedTicket(handshake: { auth?: unknown; query?: unknown }): unknown {
  for (const bag of [handshake.auth, handshake.query]) {
    if (bag !== null && typeof bag === 'object' && Object.hasOwn(bag, 'uuid')) {
      return (bag as Record<string, unknown>).uuid;
    }
  }
  return undefined;
}

/** A bounded wait: a handshake, frame or open that never settles fails the run by name. */
const within = <T>(work: Promise<T>, what: string): Promise<T> => withDeadline(work, BOUND, what);

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Calls `call`, failing if it throws synchronously or returns no promise, and waits (bounded). */
async function settle<T>(what: string, call: () => Promise<T>): Promise<Settled<T>> {
  let pending: Promise<T>;
  try {
    pending = call();
  } catch (error) {
    assert.fail(`${what} threw synchronously: ${String(error)}`);
  }
  assert.ok(pending instanceof Promise, `${what} returned no promise`);
  try {
    return { ok: true, value: await within(pending, what) };
  } catch (error) {
    return { ok: false, error };
  }
}

function assertCodedRefusal(error: unknown): asserts error is WsTicketError {
  assert.ok(
    error instanceof WsTicketError,
    `not a WsTicketError: ${(error as Error)?.name}: ${(error as Error)?.message}`,
  );
  assert.ok(CODES.has(error.code), `unknown code ${error.code}`);
  assert.equal(error.message, error.code);
  assert.deepEqual(error.data, { code: error.code });
}

// ---- Arbitraries -------------------------------------------------------------------------------

const ANYTHING = {
  maxDepth: 3,
  maxKeys: 5,
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withTypedArray: true,
  withSparseArray: true,
} satisfies fc.ObjectConstraints;

/** Keys that trip naive object handling, next to the real one. */
const TRICKY_KEY = fc.constantFrom(
  'uuid',
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'toString',
  'valueOf',
  'UUID',
  'uuid ',
);

const UUID_V4 = fc.uuid({ version: 4 });

/** JSON-representable ticket values: near misses of a v4 UUID, huge strings and any JSON. */
const jsonTicket = fc.oneof(
  UUID_V4,
  UUID_V4.map((u) => u.toUpperCase()),
  fc.uuid({ version: [1, 3, 5, 7] }),
  fc
    .tuple(UUID_V4, fc.constantFrom(' ', '\n', '\0', '%00', '\u200b', '}', 'a', '\r\n'))
    .chain(([u, junk]) => fc.constantFrom(`${u}${junk}`, `${junk}${u}`)),
  UUID_V4.map((u) => u.replaceAll('-', '')),
  UUID_V4.map((u) => `{${u}}`),
  fc.integer({ min: 10_000, max: 300_000 }).map((n) => '0'.repeat(n)),
  fc.constantFrom('', 'null', 'undefined', '[object Object]'),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.jsonValue({ maxDepth: 3 }),
  UUID_V4.map((u) => [u]),
  UUID_V4.map((u) => ({ uuid: u })),
);

/** Any ticket value a JS caller could hand over, JSON or not. */
const anyTicket = fc.oneof(
  jsonTicket,
  fc.anything(ANYTHING),
  fc.integer({ min: 1_000_000, max: 2_000_000 }).map((n) => 'f'.repeat(n)),
);

const authPayload = fc.oneof(
  fc.constant(undefined),
  fc.anything(ANYTHING),
  fc.record({ uuid: anyTicket }),
  fc.dictionary(TRICKY_KEY, fc.oneof(anyTicket, fc.anything(ANYTHING)), { maxKeys: 4 }),
  // An inherited `uuid` is no ticket.
  anyTicket.map((ticket) => Object.create({ uuid: ticket }) as unknown),
);

const queryText = fc.oneof(UUID_V4, fc.string({ unit: 'binary', maxLength: 50 }));
const queryBag = fc.option(
  fc.dictionary(
    fc.constantFrom('uuid', 'EIO', 'transport', '__proto__', 'constructor', 't'),
    fc.oneof(queryText, fc.array(queryText, { maxLength: 4 })),
    { maxKeys: 4 },
  ),
  { nil: undefined },
);

const ALLOWED_ORIGIN = 'https://app.example';
const headerText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.constantFrom(ALLOWED_ORIGIN, `${ALLOWED_ORIGIN}/`, 'null', '', ' , ', '1.2.3.4, 5.6.7.8'),
);
const headerBag = fc.option(
  fc.record(
    {
      origin: fc.oneof(headerText, fc.array(headerText, { maxLength: 3 })),
      'user-agent': fc.oneof(headerText, fc.array(headerText, { maxLength: 3 })),
      'x-forwarded-for': fc.oneof(headerText, fc.array(headerText, { maxLength: 3 })),
    },
    { requiredKeys: [] },
  ),
  { nil: undefined },
);

const handshakeArb: fc.Arbitrary<WsTicketHandshake> = fc.record(
  {
    auth: authPayload as fc.Arbitrary<Record<string, unknown> | undefined>,
    query: queryBag,
    headers: headerBag,
    address: fc.option(fc.oneof(fc.ipV4(), fc.ipV6(), fc.string()), { nil: undefined }),
  },
  { requiredKeys: [] },
);

function b64url(value: unknown): string {
  return Buffer.from(typeof value === 'string' ? value : (JSON.stringify(value) ?? '')).toString(
    'base64url',
  );
}

const jwtHeader = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.record(
    {
      alg: fc.oneof(fc.constantFrom('HS256', 'none', 'None', 'RS256', 'HS512', ''), fc.jsonValue()),
      typ: fc.constantFrom('JWT', 'jwt', ''),
      kid: fc.jsonValue({ maxDepth: 1 }),
      crit: fc.jsonValue({ maxDepth: 1 }),
    },
    { requiredKeys: [] },
  ),
);

/** Claims of any shape: registered claims with values of any JSON type, prototype-ish keys. */
const claimsArb = fc.dictionary(
  fc.oneof(
    fc.constantFrom('sub', 'exp', 'nbf', 'iat', 'aud', 'iss', 'jti'),
    TRICKY_KEY,
    fc.string({ maxLength: 8 }),
  ),
  fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.integer({ min: -1e10, max: 1e13 }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
  ),
  { maxKeys: 6, noNullPrototype: true },
);

const base64urlText = fc.string({
  unit: fc.constantFrom(
    ...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split(''),
  ),
  maxLength: 60,
});

/** Three base64url segments that look like a JWT but are not one signed with TEST_SECRET. */
const almostJwt = fc.oneof(
  fc
    .tuple(jwtHeader, fc.oneof(claimsArb, fc.jsonValue({ maxDepth: 2 })), base64urlText)
    .map(([head, payload, signature]) => `${b64url(head)}.${b64url(payload)}.${signature}`),
  fc.tuple(base64urlText, base64urlText, base64urlText).map((parts) => parts.join('.')),
  fc
    .tuple(claimsArb, fc.constantFrom('other-secret', `${TEST_SECRET}x`, ''))
    .map(([claims, secret]) => signJwt(claims, { secret })),
  claimsArb.map((claims) => signJwt({ sub: '1', ...claims }, { alg: 'none' })),
  // Signed, then changed.
  fc.tuple(claimsArb, claimsArb).map(([signed, forged]) => {
    const [head, , signature] = signJwt({ sub: '1', ...signed }).split('.');
    return `${head}.${b64url({ sub: '2', ...forged })}.${signature}`;
  }),
);

const junkAuthorization = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 100 }),
  fc.anything(ANYTHING),
  fc.integer({ min: 8180, max: 8300 }).map((n) => `Bearer ${'A'.repeat(n)}`),
  fc.integer({ min: 10_000, max: 200_000 }).map((n) => ' '.repeat(n)),
  fc
    .tuple(
      fc.constantFrom('Bearer ', 'bearer ', 'BEARER   ', 'Bearer', 'Bearer\t', 'Basic ', ''),
      fc.oneof(almostJwt, base64urlText, fc.string({ maxLength: 40 })),
      fc.constantFrom('', ' ', '  ', '=', '==', '\n', ',', ', Bearer x'),
    )
    .map((parts) => parts.join('')),
  almostJwt.map((token) => `Bearer ${token}`),
);

// ---- Service level -----------------------------------------------------------------------------

interface ServiceUnderTest {
  service: WsTicketService;
  store: CountingStore;
  close(): Promise<void>;
}

/** The service as an app gets it: through WsTicketModule in a real Nest context. */
async function serviceWith(
  options: Partial<WsTicketModuleOptions> = {},
): Promise<ServiceUnderTest> {
  const store = new CountingStore();
  @Module({
    imports: [
      WsTicketModule.forRoot({
        jwt: { secret: TEST_SECRET },
        store,
        issueLimit: false,
        ...options,
      }),
    ],
  })
  class FuzzModule {}
  const context: INestApplicationContext = await NestFactory.createApplicationContext(FuzzModule, {
    logger: process.env.TEST_LOGS ? undefined : false,
    abortOnError: false,
  });
  return { service: context.get(WsTicketService), store, close: () => context.close() };
}

const SERVICE_VARIANTS: Array<[string, Partial<WsTicketModuleOptions>]> = [
  ['default options', {}],
  [
    'allowedOrigins and every binding',
    {
      allowedOrigins: [ALLOWED_ORIGIN, 'null'],
      bind: { ip: true, userAgent: true, trustedProxies: ['loopback'] },
    },
  ],
];

for (const [variant, options] of SERVICE_VARIANTS) {
  describe(`WsTicketService under arbitrary handshakes (${variant})`, () => {
    let sut: ServiceUnderTest;
    before(async () => {
      sut = await serviceWith(options);
    });
    after(() => sut.close());

    /** Checks one consumption of a handshake that carries no issued ticket. */
    async function refusesWithoutTouchingTheStore(
      what: string,
      handshake: WsTicketHandshake,
      call: () => Promise<unknown>,
    ): Promise<void> {
      const takes = sut.store.takes.length;
      const outcome = await settle(what, call);
      assert.ok(!outcome.ok, `${what} admitted a handshake with no issued ticket`);
      assertCodedRefusal(outcome.error);
      if (!wellFormed(presentedTicket(handshake))) {
        assert.equal(
          sut.store.takes.length,
          takes,
          `${what} asked the store about a malformed ticket`,
        );
      }
    }

    it('consumeForConnection refuses any handshake with a known code and asks the store only about v4 UUIDs', async () => {
      const shared = [{}, {}];
      await fc.assert(
        fc.asyncProperty(handshakeArb, fc.nat(2), async (handshake, which) => {
          const connection = which < 2 ? shared[which] : {};
          await refusesWithoutTouchingTheStore('consumeForConnection', handshake, () =>
            sut.service.consumeForConnection(connection, handshake),
          );
        }),
        runs(500),
      );
    });

    it('consumeSession of ticketFrom refuses any handshake with a known code and asks the store only about v4 UUIDs', async () => {
      await fc.assert(
        fc.asyncProperty(handshakeArb, async (handshake) => {
          await refusesWithoutTouchingTheStore('consumeSession', handshake, () =>
            sut.service.consumeSession(sut.service.ticketFrom(handshake), handshake),
          );
        }),
        runs(500),
      );
    });

    it('settles an issued ticket presented with arbitrary headers with a session or a known code', async () => {
      await fc.assert(
        fc.asyncProperty(
          headerBag,
          fc.option(fc.tuple(headerBag, fc.option(fc.string(), { nil: undefined })), {
            nil: undefined,
          }),
          async (issuedWith, elsewhere) => {
            const sub = `user-${randomBytes(4).toString('hex')}`;
            const { uuid } = await sut.service.issue(
              { sub },
              { headers: issuedWith, ip: '127.0.0.1' },
            );
            // The same client (undefined), or another one with its own headers and address.
            const [headers, address] = elsewhere ?? [issuedWith, '127.0.0.1'];
            const handshake = { auth: { uuid }, headers, address };
            const outcome = await settle('consumeForConnection', () =>
              sut.service.consumeForConnection({}, handshake),
            );
            if (outcome.ok) assert.equal(outcome.value.userId, sub);
            else assertCodedRefusal(outcome.error);
          },
        ),
        runs(200),
      );
    });
  });
}

describe('WsTicketService.verifyBearer under arbitrary Authorization values', () => {
  let sut: ServiceUnderTest;
  before(async () => {
    sut = await serviceWith();
  });
  after(() => sut.close());

  it('refuses every value not signed with the secret with bearer_missing or bearer_invalid', async () => {
    await fc.assert(
      fc.asyncProperty(junkAuthorization, async (authorization) => {
        const outcome = await settle('verifyBearer', () => sut.service.verifyBearer(authorization));
        assert.ok(!outcome.ok, 'verifyBearer accepted junk');
        assert.ok(
          outcome.error instanceof WsTicketBearerError,
          `not a WsTicketBearerError: ${String(outcome.error)}`,
        );
        assert.ok(['bearer_missing', 'bearer_invalid'].includes(outcome.error.code));
      }),
      runs(500),
    );
  });

  it('settles a token signed with the secret, whatever its claims, with claims naming a user or bearer_invalid', async () => {
    await fc.assert(
      fc.asyncProperty(claimsArb, fc.boolean(), async (claims, withDefaults) => {
        const token = withDefaults ? signJwt(claims) : signJwt(claims, { expiresIn: null });
        const outcome = await settle('verifyBearer', () =>
          sut.service.verifyBearer(`Bearer ${token}`),
        );
        if (outcome.ok) {
          const { sub, exp } = outcome.value;
          assert.equal(typeof exp, 'number');
          assert.ok(
            (typeof sub === 'string' && sub !== '') ||
              (typeof sub === 'number' && Number.isFinite(sub)),
            `claims naming no user were accepted: sub=${JSON.stringify(sub)}`,
          );
          return;
        }
        assert.ok(
          outcome.error instanceof WsTicketBearerError,
          `not a WsTicketBearerError: ${String(outcome.error)}`,
        );
        assert.equal(outcome.error.code, 'bearer_invalid');
      }),
      runs(300),
    );
  });
});

// ---- Through real sockets ----------------------------------------------------------------------

/** Latin-1 text (what a header may carry), kept only when fetch would send it. */
const headerLegalText = fc
  .string({
    unit: fc
      .oneof(
        fc.integer({ min: 0x20, max: 0x7e }),
        fc.integer({ min: 0x80, max: 0xff }),
        fc.constantFrom(0x09, 0x00, 0x0a, 0x0d),
      )
      .map((code) => String.fromCharCode(code)),
    maxLength: 120,
  })
  .filter(fetchSends);

function fetchSends(value: string): boolean {
  try {
    new Headers({ 'x-probe': value });
    return true;
  } catch {
    return false;
  }
}

const endpointAuthorization = fc.oneof(
  headerLegalText,
  headerLegalText.map((junk) => `Bearer ${junk}`),
  almostJwt.map((token) => `Bearer ${token}`),
  fc
    .tuple(fc.constantFrom('1', 'stranger'), claimsArb)
    .map(([sub, claims]) => `Bearer ${signJwt({ ...claims, sub })}`),
);

const endpointHeaders = fc
  .record(
    {
      authorization: endpointAuthorization,
      origin: headerLegalText,
      'user-agent': headerLegalText,
      'x-forwarded-for': fc.oneof(
        headerLegalText,
        fc
          .array(fc.oneof(fc.ipV4(), headerLegalText), { maxLength: 3 })
          .map((ips) => ips.join(', ')),
      ),
    },
    { requiredKeys: [] },
  )
  .filter((headers) => Object.values(headers).every(fetchSends));

for (const platform of PLATFORMS) {
  describe(`The ticket endpoint under arbitrary headers [${platform}]`, () => {
    const store = new CountingStore();
    let started: StartedApp;

    before(async () => {
      started = await startOn(platform)({
        imports: [
          WsTicketModule.forRoot({
            jwt: { secret: TEST_SECRET },
            resolveUser: new TestUsers().resolve,
            bind: { ip: true, userAgent: true, trustedProxies: ['loopback'] },
            store,
          }),
        ],
      });
    });
    after(() => started.close());

    it('answers 201, 401 or 429 with a known code and no-store, never 500, and keeps serving', async () => {
      // User 2 is kept out of the runs, so that the issuance limit cannot refuse the last request.
      await fc.assert(
        fc.asyncProperty(endpointHeaders, async (headers) => {
          const response = await fetch(`${started.url}/auth/ws-ticket`, {
            method: 'POST',
            headers,
            signal: AbortSignal.timeout(BOUND),
          });
          const text = await response.text();
          assert.ok(
            [201, 401, 429].includes(response.status),
            `answered ${response.status}: ${text}`,
          );
          assert.equal(response.headers.get('cache-control'), 'no-store');
          assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
          const body = JSON.parse(text) as { code?: string; uuid?: string };
          if (response.status === 201) assert.ok(wellFormed(body.uuid));
          else assert.ok(ENDPOINT_CODES.has(String(body.code)), `unknown code ${body.code}`);
        }),
        runs(50),
      );
      const uuid = await ticketFor(started.url, signJwt({ sub: '2' }));
      assert.ok(wellFormed(uuid));
    });
  });
}

describe('Raw engine.io CONNECT packets with arbitrary auth', () => {
  const store = new CountingStore();
  let started: StartedApp;

  before(async () => {
    started = await startApp({
      imports: [
        WsTicketModule.forRoot({
          jwt: { secret: TEST_SECRET },
          resolveUser: new TestUsers().resolve,
          store,
        }),
      ],
      providers: [ChatTestGateway],
    });
  });
  after(() => started.close());

  /** Auth objects: Socket.IO closes the transport on any other CONNECT payload. */
  const objectPayload = fc.oneof(
    fc.record({ uuid: jsonTicket }),
    fc.dictionary(TRICKY_KEY, jsonTicket, { maxKeys: 4 }),
  );
  const connectPayload = fc.oneof(objectPayload, fc.jsonValue({ maxDepth: 3 }));
  /** Extra query parameters on the engine.io URL (never the ones engine.io itself reads). */
  const connectQuery = fc.array(
    fc.tuple(fc.constantFrom('uuid', 'x', '__proto__'), fc.oneof(UUID_V4, fc.string())),
    { maxLength: 3 },
  );

  it('answers a 44 refusal with a known code or closes the transport, and asks the store only about v4 UUIDs', async () => {
    await fc.assert(
      fc.asyncProperty(connectPayload, connectQuery, async (auth, query) => {
        const params = new URLSearchParams(query);
        const raw = await within(
          RawEngineIo.open(started.url, query.length > 0 ? `&${params}` : ''),
          'engine.io open',
        );
        try {
          const takes = store.takes.length;
          const json = JSON.stringify(auth);
          raw.send(`40/chat,${json}`);
          const answer = await raw.until(
            (packet) => packet.startsWith('40/chat,') || packet.startsWith('44/chat,'),
            0,
            BOUND,
          );
          if (answer !== undefined) {
            assert.ok(answer.startsWith('44/chat,'), `admitted: ${answer.slice(0, 200)}`);
            const body = JSON.parse(answer.slice('44/chat,'.length)) as {
              message?: string;
              data?: { code?: string };
            };
            assert.ok(
              CODES.has(String(body.data?.code)),
              `unknown code in ${answer.slice(0, 200)}`,
            );
            assert.equal(body.message, body.data?.code);
          }
          const parsed = JSON.parse(json) as unknown;
          const authObject = parsed !== null && typeof parsed === 'object' ? parsed : undefined;
          const ticket = presentedTicket({
            auth: Array.isArray(authObject) ? undefined : authObject,
            query: Object.fromEntries(
              [...new Set(params.keys())].map((key) => {
                const values = params.getAll(key);
                return [key, values.length === 1 ? values[0] : values];
              }),
            ),
          });
          if (!wellFormed(ticket)) {
            assert.equal(store.takes.length, takes, 'the store was asked about a malformed ticket');
          }
        } finally {
          raw.close();
        }
      }),
      runs(60),
    );
  });

  it('answers at most ten refusals on one transport, each with a known code, then closes it', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(objectPayload, { minLength: 1, maxLength: 12 }), async (auths) => {
        const raw = await within(RawEngineIo.open(started.url), 'engine.io open');
        try {
          let refusals = 0;
          for (const auth of auths) {
            const from = raw.packets.length;
            raw.send(`40/chat,${JSON.stringify(auth)}`);
            const answer = await raw.until(
              (packet) => packet.startsWith('40/chat,') || packet.startsWith('44/chat,'),
              from,
              BOUND,
            );
            if (answer === undefined) break;
            assert.ok(answer.startsWith('44/chat,'), `admitted: ${answer.slice(0, 200)}`);
            const body = JSON.parse(answer.slice('44/chat,'.length)) as {
              data?: { code?: string };
            };
            assert.ok(
              CODES.has(String(body.data?.code)),
              `unknown code in ${answer.slice(0, 200)}`,
            );
            refusals += 1;
          }
          assert.ok(refusals <= 10, `${refusals} refusals answered on one transport`);
          if (refusals === 10) await raw.whenClosed(BOUND);
        } finally {
          raw.close();
        }
      }),
      runs(30),
    );
  });

  it('still admits a real ticket after the fuzzing', async () => {
    const raw = await within(RawEngineIo.open(started.url), 'engine.io open');
    try {
      const uuid = await ticketFor(started.url, signJwt({ sub: '1' }));
      const answer = await within(raw.connect('/chat', { uuid }), 'CONNECT');
      assert.ok(answer.ok, `a real ticket was refused: ${JSON.stringify(answer)}`);
    } finally {
      raw.close();
    }
  });
});

/** RFC 7230 tchar: what a Sec-WebSocket-Protocol entry may be made of. */
const TCHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const token = fc.string({
  unit: fc.constantFrom(...TCHARS.split('')),
  minLength: 1,
  maxLength: 40,
});
const protocolEntry = fc.oneof(
  token,
  fc.constant('ws-ticket'),
  token.map((t) => `ws-ticket.${t}`),
  UUID_V4.map((u) => `ws-ticket.${u}`),
  UUID_V4.map((u) => `ws-ticket.${u.toUpperCase()}`),
  fc.constant('ws-ticket.'),
);
/** A query value as a client would send it, or raw percent junk a URL may still carry. */
const queryValue = fc.oneof(
  UUID_V4,
  fc.string({ unit: 'grapheme', maxLength: 60 }).map(encodeURIComponent),
  fc.string({
    unit: fc.constantFrom(..."%0123456789abcdefABCDEFzZ-._~!$'()*+,;=:@/?".split('')),
    maxLength: 30,
  }),
  // Long, yet four of them stay under Node's 16 KB header limit (beyond it Node answers 431 itself).
  fc.integer({ min: 1000, max: 3000 }).map((n) => 'a'.repeat(n)),
);
const upgradeQuery = fc.array(
  fc.tuple(fc.constantFrom('uuid', 'uuid', 'UUID', 'x', 'uuid%00', '__proto__'), queryValue),
  { maxLength: 4 },
);

/** Whether node:http sends a header value as is (it throws on anything else). */
function nodeSends(value: string): boolean {
  return /^[\t\x20-\x7e\x80-\xff]*$/.test(value);
}

/** The ticket an upgrade presents (README scheme); entries without the marker count as malformed. */
function upgradeTicket(protocols: string[], query: string): unknown {
  const entries = protocols
    .filter((protocol) => protocol.startsWith('ws-ticket.'))
    .map((protocol) => protocol.slice('ws-ticket.'.length));
  if (entries.length > 0) {
    if (!protocols.includes('ws-ticket')) return { unmarked: entries };
    return entries.length === 1 ? entries[0] : entries;
  }
  const values = new URL(`/ws${query}`, 'ws://localhost').searchParams.getAll('uuid');
  return values.length === 0 ? undefined : values.length === 1 ? values[0] : values;
}

describe('Raw WebSocket upgrades with arbitrary subprotocols and ?uuid= values', () => {
  const store = new CountingStore();
  let server: StartedWsApp;

  before(async () => {
    server = await startWsApp({
      imports: [ticketModule({ store, allowedOrigins: [ALLOWED_ORIGIN] })],
      providers: [EchoWsGateway, ConnectionLog],
    });
  });
  after(() => server.close());

  it('answers 401, 403 or 503 with a known JSON code, never 500 nor 101, and asks the store only about v4 UUIDs', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(protocolEntry, { maxLength: 6 }),
        upgradeQuery,
        fc.option(
          fc.oneof(
            fc.constantFrom(ALLOWED_ORIGIN, 'https://evil.example', 'null'),
            headerLegalText.filter(nodeSends),
          ),
          { nil: undefined },
        ),
        async (protocols, pairs, origin) => {
          const query =
            pairs.length === 0 ? '' : `?${pairs.map(([k, v]) => `${k}=${v}`).join('&')}`;
          const headers: Record<string, string> = {};
          if (protocols.length > 0) headers['sec-websocket-protocol'] = protocols.join(', ');
          if (origin !== undefined) headers.origin = origin;
          const takes = store.takes.length;
          const answer = await rawUpgrade(`${server.url}/ws${query}`, headers, BOUND);
          assert.ok(
            [401, 403, 503].includes(answer.status),
            `answered ${answer.status}: ${answer.body.slice(0, 200)}`,
          );
          assert.match(String(answer.headers['content-type']), /^application\/json/);
          assert.equal(answer.headers['cache-control'], 'no-store');
          const { code } = JSON.parse(answer.body) as { code?: string };
          assert.ok(CODES.has(String(code)), `unknown code ${code}`);
          assert.equal(
            (WS_TICKET_REFUSAL_STATUS as Record<string, number>)[String(code)],
            answer.status,
          );
          if (!wellFormed(upgradeTicket(protocols, query))) {
            assert.equal(store.takes.length, takes, 'the store was asked about a malformed ticket');
          }
        },
      ),
      runs(60),
    );
    // Still serving.
    const uuid = await ticketFor(server.url, signJwt({ sub: 'alice' }));
    const ws = await within(
      openedWs(`${server.wsUrl}/ws?uuid=${uuid}`, [], { origin: ALLOWED_ORIGIN }),
      'upgrade',
    );
    await closeWs(ws);
  });
});
