import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WS_TICKET_CLOSE_CODES, type WsTicketErrorCode, WsTicketService } from '../../lib/index.js';
import { PLATFORMS, ticketFor } from '../support/app.js';
import { signJwt } from '../support/jwt.js';
import {
  ConnectionLog,
  EchoWsGateway,
  type TestUser,
  ticketModule,
  VersionedWsGateway,
} from './fixtures/gateways.js';
import {
  ask,
  closeWs,
  closure,
  openedWs,
  openWs,
  type StartedWsApp,
  send,
  startWsApp,
} from './fixtures/ws-app.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

for (const platform of PLATFORMS) {
  describe(`raw WebSocket session lifetime and revocation (${platform})`, () => {
    let server: StartedWsApp;
    let tickets: WsTicketService;
    const ticket = (sub: string) => ticketFor(server.url, signJwt({ sub }));
    const open = async (sub: string, path = '/ws') =>
      openedWs(`${server.wsUrl}${path}?uuid=${await ticket(sub)}`);

    before(async () => {
      server = await startWsApp(
        {
          imports: [ticketModule()],
          providers: [EchoWsGateway, VersionedWsGateway, ConnectionLog],
        },
        { platform },
      );
      tickets = server.app.get(WsTicketService);
    });
    after(() => server.close());

    it('closes the socket with 4001 session_expired when the JWT behind it expires', async () => {
      // `exp` has whole seconds: at least one more second, so the ticket endpoint still takes it.
      const exp = Math.ceil(Date.now() / 1000) + 1;
      const uuid = await ticketFor(server.url, signJwt({ sub: 'alice', exp }));
      const ws = await openedWs(`${server.wsUrl}/ws?uuid=${uuid}`);
      assert.deepEqual(await closure(ws), { code: 4001, reason: 'session_expired' });
    });

    it('refuses a ticket whose session ended before the upgrade with 401 session_expired', async () => {
      const { uuid } = await tickets.issue({ sub: 'alice', exp: Date.now() / 1000 - 1 });
      const outcome = await openWs(`${server.wsUrl}/ws?uuid=${uuid}`);
      assert.equal(!outcome.ok && outcome.status, 401);
      assert.equal(!outcome.ok && outcome.code, 'session_expired');
    });

    it("disconnectUser closes every socket of the user with 4003 user_revoked, on every gateway, and no one else's", async () => {
      const aliceChat = await open('alice');
      const aliceVersioned = await open('alice', '/ws/versioned');
      const bob = await open('bob');
      const closures = [closure(aliceChat), closure(aliceVersioned)];
      await tickets.disconnectUser('alice');
      for (const closed of await Promise.all(closures)) {
        assert.deepEqual(closed, { code: 4003, reason: 'user_revoked' });
      }
      assert.equal(bob.readyState, bob.OPEN);
      assert.deepEqual(await ask<TestUser>(bob, 'whoami'), { id: 'bob' });
      await closeWs(bob);
    });

    it('disconnectUser closes with the code it is given as reason and its WS_TICKET_CLOSE_CODES entry', async () => {
      const codes = Object.keys(WS_TICKET_CLOSE_CODES) as Array<keyof typeof WS_TICKET_CLOSE_CODES>;
      const sockets = await Promise.all(codes.map((code) => open(`user-${code}`)));
      const closures = sockets.map(closure);
      await Promise.all(codes.map((code) => tickets.disconnectUser(`user-${code}`, code)));
      assert.deepEqual(
        await Promise.all(closures),
        codes.map((code) => ({ code: WS_TICKET_CLOSE_CODES[code], reason: code })),
      );
      assert.equal(WS_TICKET_CLOSE_CODES.session_expired, 4001);
      assert.equal(WS_TICKET_CLOSE_CODES.user_revoked, 4003);
    });

    it('runs no handler for a frame that reaches a socket the server is already closing', async () => {
      const log = server.app.get(ConnectionLog);
      const ws = await open('erin');
      send(ws, 'note', 'before revocation');
      await ask(ws, 'whoami');
      const closed = closure(ws);
      // Leave the server's close frame unread so that the client still sends as if open.
      ws.pause();
      await tickets.disconnectUser('erin');
      send(ws, 'note', 'after revocation');
      ws.resume();
      assert.deepEqual(await closed, { code: 4003, reason: 'user_revoked' });
      assert.ok(log.notes.includes('before revocation'));
      assert.equal(log.notes.includes('after revocation'), false);
    });
  });

  describe(`raw WebSocket origin allow-list (${platform})`, () => {
    let server: StartedWsApp;
    const withOrigin = (uuid: string, origin?: string) =>
      openWs(`${server.wsUrl}/ws?uuid=${uuid}`, [], { headers: origin ? { origin } : {} });
    const ticket = () => ticketFor(server.url, signJwt({ sub: 'alice' }));

    before(async () => {
      server = await startWsApp(
        {
          imports: [ticketModule({ allowedOrigins: ['https://app.example'] })],
          providers: [EchoWsGateway, ConnectionLog],
        },
        { platform },
      );
    });
    after(() => server.close());

    it('accepts an upgrade from a listed origin', async () => {
      const outcome = await withOrigin(await ticket(), 'https://app.example');
      assert.ok(outcome.ok);
      assert.deepEqual(await ask<TestUser>(outcome.ws, 'whoami'), { id: 'alice' });
      await closeWs(outcome.ws);
    });

    it('refuses an upgrade from another origin with 403 { code: "origin_forbidden" } and spends no ticket', async () => {
      const uuid = await ticket();
      const outcome = await withOrigin(uuid, 'https://evil.example');
      assert.equal(!outcome.ok && outcome.status, 403);
      assert.deepEqual(!outcome.ok && JSON.parse(outcome.body), { code: 'origin_forbidden' });
      const good = await withOrigin(uuid, 'https://app.example');
      assert.ok(good.ok);
      await closeWs(good.ws);
    });
  });

  describe(`raw WebSocket ticket bindings (${platform})`, () => {
    let server: StartedWsApp;
    /** Issues a ticket from a client with this User-Agent. */
    const issue = async (userAgent: string) => {
      const response = await fetch(`${server.url}/auth/ws-ticket`, {
        method: 'POST',
        headers: { authorization: `Bearer ${signJwt({ sub: 'alice' })}`, 'user-agent': userAgent },
      });
      return ((await response.json()) as { uuid: string }).uuid;
    };
    const asAgent = (uuid: string, userAgent: string) =>
      openWs(`${server.wsUrl}/ws?uuid=${uuid}`, [], { headers: { 'user-agent': userAgent } });

    before(async () => {
      server = await startWsApp(
        {
          imports: [ticketModule({ bind: { userAgent: true } })],
          providers: [EchoWsGateway, ConnectionLog],
        },
        { platform },
      );
    });
    after(() => server.close());

    it('accepts the upgrade from the user agent the ticket was issued to', async () => {
      const outcome = await asAgent(await issue('browser-a'), 'browser-a');
      assert.ok(outcome.ok);
      await closeWs(outcome.ws);
    });

    it('refuses the upgrade from another user agent with 403 ticket_binding_mismatch', async () => {
      const outcome = await asAgent(await issue('browser-a'), 'browser-b');
      assert.equal(!outcome.ok && outcome.status, 403);
      assert.deepEqual(!outcome.ok && JSON.parse(outcome.body), {
        code: 'ticket_binding_mismatch',
      });
    });
  });
}

// The timers live in the ws server, the same under both HTTP platforms: one run is enough.
describe('raw WebSocket session timers', () => {
  let server: StartedWsApp;
  let tickets: WsTicketService;
  before(async () => {
    server = await startWsApp({
      // Thousands of tickets for one user.
      imports: [ticketModule({ issueLimit: false })],
      providers: [EchoWsGateway, ConnectionLog],
    });
    tickets = server.app.get(WsTicketService);
  });
  after(() => server.close());

  it('leaves no pending timer behind after 2,000 connect/close cycles', async () => {
    const claims = { sub: 'cycler', exp: Math.floor(Date.now() / 1000) + 3600 };
    const cycle = async () => {
      const { uuid } = await tickets.issue(claims);
      await closeWs(await openedWs(`${server.wsUrl}/ws?uuid=${uuid}`));
    };
    await cycle();
    await sleep(100);
    const before = timers();
    for (let batch = 0; batch < 40; batch++) {
      await Promise.all(Array.from({ length: 50 }, cycle));
    }
    await sleep(300);
    assert.equal(timers(), before);
  });
});

describe('raw WebSocket session expiry switched off', () => {
  let server: StartedWsApp;
  before(async () => {
    server = await startWsApp({
      imports: [ticketModule({ closeOnSessionEnd: false })],
      providers: [EchoWsGateway, ConnectionLog],
    });
  });
  after(() => server.close());

  it('keeps the socket open past the session end when closeOnSessionEnd is false', async () => {
    const tickets = server.app.get(WsTicketService);
    const { uuid } = await tickets.issue({ sub: 'alice', exp: (Date.now() + 200) / 1000 });
    const ws = await openedWs(`${server.wsUrl}/ws?uuid=${uuid}`);
    await sleep(500);
    assert.equal(ws.readyState, ws.OPEN);
    assert.deepEqual(await ask<TestUser>(ws, 'whoami'), { id: 'alice' });
    await closeWs(ws);
  });
});
