import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ticketFor } from '../support/app.js';
import { signJwt } from '../support/jwt.js';
import {
  banned,
  ConnectionLog,
  EchoWsGateway,
  TakeFailsStore,
  type TestUser,
  ticketModule,
} from './fixtures/gateways.js';
import {
  ask,
  CaptureLogger,
  closeAll,
  closeWs,
  openedWs,
  openWs,
  rawUpgrade,
  type StartedWsApp,
  startWsApp,
} from './fixtures/ws-app.js';

const TICKET_SCHEME = (uuid: string) => ['ws-ticket', `ws-ticket.${uuid}`];

for (const platform of ['express', 'fastify'] as const) {
  describe(`raw WebSocket upgrade authentication (${platform})`, () => {
    let server: StartedWsApp;
    const ticket = (sub = 'alice') => ticketFor(server.url, signJwt({ sub }));
    const chat = (query = '') => `${server.wsUrl}/ws${query}`;

    before(async () => {
      server = await startWsApp(
        { imports: [ticketModule()], providers: [EchoWsGateway, ConnectionLog] },
        { platform },
      );
    });
    after(() => server.close());

    it('accepts a ticket sent as ?uuid= and gives handlers the user', async () => {
      const ws = await openedWs(chat(`?uuid=${await ticket()}`));
      assert.deepEqual(await ask<TestUser>(ws, 'whoami'), { id: 'alice' });
      await closeWs(ws);
    });

    it('accepts a ticket sent in Sec-WebSocket-Protocol and negotiates the ws-ticket marker', async () => {
      const outcome = await openWs(chat(), TICKET_SCHEME(await ticket('bob')));
      assert.ok(outcome.ok);
      assert.equal(outcome.protocol, 'ws-ticket');
      assert.deepEqual(await ask<TestUser>(outcome.ws, 'whoami'), { id: 'bob' });
      await closeWs(outcome.ws);
    });

    it('refuses an upgrade without a ticket with 401 and a JSON body { code: "ticket_missing" }', async () => {
      const outcome = await openWs(chat());
      assert.equal(outcome.ok, false);
      assert.equal(!outcome.ok && outcome.status, 401);
      assert.match(String(!outcome.ok && outcome.contentType), /^application\/json/);
      assert.deepEqual(!outcome.ok && JSON.parse(outcome.body), { code: 'ticket_missing' });
    });

    it('refuses an unknown well-formed ticket with 401 ticket_invalid', async () => {
      const outcome = await openWs(chat(`?uuid=${randomUUID()}`));
      assert.deepEqual(refusal(outcome), { status: 401, code: 'ticket_invalid' });
    });

    it('refuses a ticket used a second time with 401 ticket_invalid', async () => {
      const uuid = await ticket();
      const ws = await openedWs(chat(`?uuid=${uuid}`));
      await closeWs(ws);
      assert.deepEqual(refusal(await openWs(chat(`?uuid=${uuid}`))), {
        status: 401,
        code: 'ticket_invalid',
      });
    });

    it('refuses a ticket spent by query when it is replayed in Sec-WebSocket-Protocol', async () => {
      const uuid = await ticket();
      await closeWs(await openedWs(chat(`?uuid=${uuid}`)));
      assert.deepEqual(refusal(await openWs(chat(), TICKET_SCHEME(uuid))), {
        status: 401,
        code: 'ticket_invalid',
      });
    });

    it('refuses a ticket whose user was deactivated after issue with 401 user_rejected', async () => {
      const uuid = await ticket('dave');
      banned.add('dave');
      try {
        assert.deepEqual(refusal(await openWs(chat(`?uuid=${uuid}`))), {
          status: 401,
          code: 'user_rejected',
        });
      } finally {
        banned.delete('dave');
      }
    });

    it('lets exactly one of 50 parallel upgrades in with one ticket', async () => {
      const uuid = await ticket();
      const outcomes = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          i % 2 === 0 ? openWs(chat(`?uuid=${uuid}`)) : openWs(chat(), TICKET_SCHEME(uuid)),
        ),
      );
      const refusals = outcomes.filter((outcome) => !outcome.ok).map(refusal);
      assert.equal(outcomes.filter((outcome) => outcome.ok).length, 1);
      assert.equal(refusals.length, 49);
      assert.ok(refusals.every((r) => r.status === 401 && r.code === 'ticket_invalid'));
      await closeAll(outcomes);
    });

    it('never reaches handleConnection with a refused upgrade', async () => {
      const log = server.app.get(ConnectionLog);
      const before = log.users.length;
      await openWs(chat());
      await openWs(chat(`?uuid=${randomUUID()}`));
      assert.equal(log.users.length, before);
      const ws = await openedWs(chat(`?uuid=${await ticket('carol')}`));
      await ask(ws, 'whoami');
      assert.deepEqual(log.users.slice(before), [{ id: 'carol' }]);
      await closeWs(ws);
    });

    it('spends no ticket on an upgrade to a path no gateway serves', async () => {
      const uuid = await ticket();
      const stray = await openWs(`${server.wsUrl}/elsewhere?uuid=${uuid}`);
      assert.equal(stray.ok, false);
      const ws = await openedWs(chat(`?uuid=${uuid}`));
      await closeWs(ws);
    });
  });
}

describe('raw WebSocket upgrade when the ticket store is down', () => {
  let server: StartedWsApp;
  before(async () => {
    server = await startWsApp({
      imports: [ticketModule({ store: new TakeFailsStore() })],
      providers: [EchoWsGateway, ConnectionLog],
    });
  });
  after(() => server.close());

  it('refuses with 503 store_unavailable', async () => {
    const uuid = await ticketFor(server.url, signJwt({ sub: 'alice' }));
    assert.deepEqual(refusal(await openWs(`${server.wsUrl}/ws?uuid=${uuid}`)), {
      status: 503,
      code: 'store_unavailable',
    });
  });
});

describe('raw WebSocket refusal headers', () => {
  const APP_ORIGIN = 'https://app.example';
  let server: StartedWsApp;
  const ticket = () => ticketFor(server.url, signJwt({ sub: 'alice' }));

  before(async () => {
    // Origins are checked before the store is asked, which then fails: 401, 403 and 503 from one app.
    server = await startWsApp({
      imports: [ticketModule({ store: new TakeFailsStore(), allowedOrigins: [APP_ORIGIN] })],
      providers: [EchoWsGateway, ConnectionLog],
    });
  });
  after(() => server.close());

  const cases = [
    { status: 401, code: 'ticket_missing', query: async () => '', origin: APP_ORIGIN },
    {
      status: 403,
      code: 'origin_forbidden',
      query: async () => `?uuid=${await ticket()}`,
      origin: 'https://evil.example',
    },
    {
      status: 503,
      code: 'store_unavailable',
      query: async () => `?uuid=${await ticket()}`,
      origin: APP_ORIGIN,
    },
  ];
  for (const { status, code, query, origin } of cases) {
    it(`answers ${status} ${code} as JSON with nosniff and no-store`, async () => {
      const answer = await rawUpgrade(`${server.url}/ws${await query()}`, { origin });
      assert.equal(answer.status, status);
      assert.deepEqual(JSON.parse(answer.body), { code });
      assert.equal(answer.headers['x-content-type-options'], 'nosniff');
      assert.equal(answer.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal(answer.headers['cache-control'], 'no-store');
    });
  }
});

describe('raw WebSocket malformed tickets', () => {
  let server: StartedWsApp;
  const chat = (query = '') => `${server.wsUrl}/ws${query}`;
  const ticket = () => ticketFor(server.url, signJwt({ sub: 'alice' }));
  const jwt = signJwt({ sub: 'alice' });
  const keyLike = `ws-ticket:${createHash('sha256').update(randomUUID()).digest('hex')}`;

  before(async () => {
    server = await startWsApp({
      imports: [ticketModule()],
      providers: [EchoWsGateway, ConnectionLog],
    });
  });
  after(() => server.close());

  /** Each case builds the upgrade from a freshly issued (so far unused) ticket. */
  const cases: {
    label: string;
    code: string;
    upgrade: (uuid: string) => { query?: string; protocols?: string[] };
    /** The issued ticket is still good afterwards: the store was never touched. */
    untouched?: boolean;
  }[] = [
    { label: 'an empty ?uuid=', code: 'ticket_missing', upgrade: () => ({ query: '?uuid=' }) },
    {
      label: 'a 10 kB ?uuid=',
      code: 'ticket_malformed',
      upgrade: () => ({ query: `?uuid=${'a'.repeat(10_240)}` }),
    },
    { label: '?uuid=*', code: 'ticket_malformed', upgrade: () => ({ query: '?uuid=*' }) },
    {
      label: 'a store-key-looking ?uuid=',
      code: 'ticket_malformed',
      upgrade: () => ({ query: `?uuid=${encodeURIComponent(keyLike)}` }),
    },
    {
      label: 'a JWT in place of the ticket',
      code: 'ticket_malformed',
      upgrade: () => ({ query: `?uuid=${jwt}` }),
    },
    {
      label: 'the uppercase form of a real ticket',
      code: 'ticket_malformed',
      upgrade: (uuid) => ({ query: `?uuid=${uuid.toUpperCase()}` }),
      untouched: true,
    },
    {
      label: 'a repeated ?uuid= parameter',
      code: 'ticket_malformed',
      upgrade: (uuid) => ({ query: `?uuid=${uuid}&uuid=${uuid}` }),
      untouched: true,
    },
    {
      label: 'an empty ticket subprotocol',
      code: 'ticket_missing',
      upgrade: () => ({ protocols: ['ws-ticket', 'ws-ticket.'] }),
    },
    {
      label: 'a 10 kB ticket subprotocol',
      code: 'ticket_malformed',
      upgrade: () => ({ protocols: ['ws-ticket', `ws-ticket.${'a'.repeat(10_240)}`] }),
    },
    {
      label: 'a * ticket subprotocol',
      code: 'ticket_malformed',
      upgrade: () => ({ protocols: ['ws-ticket', 'ws-ticket.*'] }),
    },
    {
      label: 'a JWT as the ticket subprotocol',
      code: 'ticket_malformed',
      upgrade: () => ({ protocols: ['ws-ticket', `ws-ticket.${jwt}`] }),
    },
    {
      label: 'the uppercase form of a real ticket as subprotocol',
      code: 'ticket_malformed',
      upgrade: (uuid) => ({ protocols: ['ws-ticket', `ws-ticket.${uuid.toUpperCase()}`] }),
      untouched: true,
    },
  ];

  for (const { label, code, upgrade, untouched } of cases) {
    it(`refuses ${label} with 401 ${code} and still serves the next good client`, async () => {
      const uuid = await ticket();
      const { query = '', protocols } = upgrade(uuid);
      assert.deepEqual(refusal(await openWs(chat(query), protocols)), { status: 401, code });
      const next = untouched ? uuid : await ticket();
      const ws = await openedWs(chat(`?uuid=${next}`));
      assert.deepEqual(await ask(ws, 'whoami'), { id: 'alice' });
      await closeWs(ws);
    });
  }
});

describe('raw WebSocket refusal logs', () => {
  let server: StartedWsApp;
  const logger = new CaptureLogger();
  before(async () => {
    server = await startWsApp(
      { imports: [ticketModule()], providers: [EchoWsGateway, ConnectionLog] },
      { logger },
    );
  });
  after(() => server.close());

  it('logs refusal codes but never a ticket or a JWT', async () => {
    const jwt = signJwt({ sub: 'alice' });
    const spent = await ticketFor(server.url, jwt);
    const unmarked = await ticketFor(server.url, jwt);
    await closeWs(await openedWs(`${server.wsUrl}/ws?uuid=${spent}`));
    const outcomes = await Promise.all([
      openWs(`${server.wsUrl}/ws?uuid=${spent}`),
      openWs(`${server.wsUrl}/ws`, TICKET_SCHEME(spent)),
      openWs(`${server.wsUrl}/ws`, [`ws-ticket.${unmarked}`]),
      openWs(`${server.wsUrl}/ws?uuid=${jwt}`),
      openWs(`${server.wsUrl}/ws?uuid=${spent.toUpperCase()}`),
    ]);
    assert.ok(outcomes.every((outcome) => !outcome.ok));
    const logs = logger.lines.join('\n');
    assert.match(logs, /ticket_invalid/);
    assert.match(logs, /ticket_malformed/);
    for (const secret of [spent, unmarked, jwt, spent.toUpperCase()]) {
      assert.equal(logs.includes(secret), false);
    }
  });
});

function refusal(outcome: Awaited<ReturnType<typeof openWs>>): {
  status: number | undefined;
  code: string | undefined;
} {
  if (outcome.ok) {
    outcome.ws.close();
    return { status: 101, code: undefined };
  }
  return { status: outcome.status, code: outcome.code };
}
