// The module's diagnostics_channel events (issue #16): the exact sequence a scenario produces on
// Socket.IO and on raw WebSocket — issue, refused ticket request, accept, two refused handshakes,
// refresh, session expiry, revocation, a client leaving — and what the events never carry.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import type { WebSocket } from 'ws';
import { type WsTicketClaims, WsTicketModule, WsTicketService } from '../../lib/index.js';
import { ChatTestGateway } from '../fixtures/gateways.js';
import { PLATFORMS, requestTicket, type StartedApp, startOn, ticketFor } from '../support/app.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { ask, connect, connected } from '../support/sockets.js';
import { ConnectionLog, EchoWsGateway, ticketModule } from '../ws/fixtures/gateways.js';
import {
  ask as askWs,
  closeWs,
  closure,
  openedWs,
  openWs,
  type StartedWsApp,
  startWsApp,
} from '../ws/fixtures/ws-app.js';
import { EventsRecorder } from './events-recorder.js';

/** A token whose session ends in `seconds` (whole seconds, at least one more). */
const shortSession = (sub: string, seconds: number) =>
  signJwt({ sub, exp: Math.ceil(Date.now() / 1000) + seconds });

/** Resolves once a Socket.IO socket is disconnected. */
const disconnected = (socket: Socket) =>
  new Promise<void>((resolve) => socket.once('disconnect', () => resolve()));

/** The scenario's fixed part, the same on every transport (after the two issued tickets). */
const ISSUED = [
  ['issue', { userId: 'alice' }],
  ['issue', { userId: 'bob' }],
  ['refuse', { stage: 'issue', code: 'bearer_missing', transport: 'http', namespace: null }],
] as const;

for (const platform of PLATFORMS) {
  describe(`telemetry events on Socket.IO [${platform}]`, () => {
    let started: StartedApp;
    let service: WsTicketService;
    let recorder: EventsRecorder;

    before(async () => {
      started = await startOn(platform)({
        imports: [
          WsTicketModule.forRoot({
            jwt: { secret: TEST_SECRET },
            issueLimit: false,
            resolveUser: (claims: WsTicketClaims) => ({ id: String(claims.sub) }),
          }),
        ],
        providers: [ChatTestGateway],
      });
      service = started.app.get(WsTicketService);
    });
    afterEach(() => recorder?.stop());
    after(() => started.close());

    it('publishes issue, refuse, accept, session-end and revoke in order, with codes and namespaces', async () => {
      recorder = new EventsRecorder();
      const alice = await ticketFor(started.url, signJwt({ sub: 'alice' }));
      const bob = await ticketFor(started.url, shortSession('bob', 1));
      assert.equal((await requestTicket(started.url, undefined)).status, 401);

      const aliceSocket = await connected(`${started.url}/chat`, { auth: { uuid: alice } });
      const malformed = await connect(`${started.url}/chat`, { auth: { uuid: 'not-a-ticket' } });
      const spent = await connect(`${started.url}/chat`, { auth: { uuid: alice } });
      assert.deepEqual([malformed.ok, spent.ok], [false, false]);
      const bobSocket = await connected(`${started.url}/chat`, { auth: { uuid: bob } });
      await disconnected(bobSocket); // session_expired at bob's exp
      const aliceGone = disconnected(aliceSocket);
      await service.disconnectUser('alice');
      await aliceGone;
      await service.revokeUserTickets('carol');
      await recorder.waitFor(11);

      const where = { transport: 'socket.io', namespace: '/chat' };
      assert.deepEqual(recorder.events(), [
        ...ISSUED,
        ['accept', { userId: 'alice', ...where }],
        ['refuse', { stage: 'handshake', code: 'ticket_malformed', ...where }],
        ['refuse', { stage: 'handshake', code: 'ticket_invalid', ...where }],
        ['accept', { userId: 'bob', ...where }],
        ['sessionEnd', { userId: 'bob', ...where, code: 'session_expired' }],
        ['revoke', { userId: 'alice', action: 'disconnect', code: 'user_revoked' }],
        ['sessionEnd', { userId: 'alice', ...where, code: 'user_revoked' }],
        ['revoke', { userId: 'carol', action: 'tickets', code: null }],
      ]);
    });

    it('a socket the client closes ends with code null; a refresh is refreshed or refused', async () => {
      const uuid = await ticketFor(started.url, signJwt({ sub: 'dave' }));
      const socket = await connected(`${started.url}/chat`, { auth: { uuid } });
      recorder = new EventsRecorder();
      const fresh = await ticketFor(started.url, signJwt({ sub: 'dave' }));
      assert.equal(
        (await ask<{ ok: boolean }>(socket, 'ws-ticket:refresh', { uuid: fresh })).ok,
        true,
      );
      const refused = await ask<{ ok: boolean }>(socket, 'ws-ticket:refresh', { uuid: 'x' });
      assert.equal(refused.ok, false);
      socket.disconnect();
      await recorder.waitFor(4);

      const where = { userId: 'dave', transport: 'socket.io', namespace: '/chat' };
      assert.deepEqual(recorder.events(), [
        ['issue', { userId: 'dave' }],
        ['refresh', { ...where, result: 'refreshed', code: null }],
        ['refresh', { ...where, result: 'refused', code: 'ticket_malformed' }],
        ['sessionEnd', { ...where, code: null }],
      ]);
    });

    it('never carries a ticket, a token, a claim other than the user id, a header or an address', async () => {
      recorder = new EventsRecorder();
      const token = signJwt({ sub: 'erin', email: 'erin@example.test', role: 'secret-role' });
      const uuid = await ticketFor(started.url, token, undefined, { 'user-agent': 'agent-x/1' });
      const socket = await connected(`${started.url}/chat`, {
        auth: { uuid },
        extraHeaders: { 'user-agent': 'agent-x/1' },
      });
      await connect(`${started.url}/chat`, { auth: { uuid } }); // spent: refused
      await connect(`${started.url}/chat`, { auth: { uuid: token } }); // a JWT as ticket
      const gone = disconnected(socket);
      await service.disconnectUser('erin');
      await gone;
      await recorder.waitFor(6);
      const text = JSON.stringify(recorder.raw);
      for (const secret of [
        uuid,
        token,
        'eyJ',
        'erin@example.test',
        'secret-role',
        'agent-x',
        '127.0.0.1',
      ]) {
        assert.ok(!text.includes(secret), `an event carries ${secret.slice(0, 12)}…`);
      }
      assert.ok(text.includes('"userId":"erin"'), 'the events name the user');
    });
  });
}

describe('telemetry events on raw WebSocket', () => {
  let server: StartedWsApp;
  let service: WsTicketService;
  let recorder: EventsRecorder;
  const ticket = (token: string) => ticketFor(server.url, token);

  before(async () => {
    server = await startWsApp({
      imports: [ticketModule({ issueLimit: false })],
      providers: [EchoWsGateway, ConnectionLog],
    });
    service = server.app.get(WsTicketService);
  });
  afterEach(() => recorder?.stop());
  after(() => server.close());

  it('publishes the same sequence, the gateway path as namespace and the close codes', async () => {
    recorder = new EventsRecorder();
    const alice = await ticket(signJwt({ sub: 'alice' }));
    const bob = await ticket(shortSession('bob', 1));
    assert.equal((await requestTicket(server.url, undefined)).status, 401);

    const aliceWs = await openedWs(`${server.wsUrl}/ws?uuid=${alice}`);
    const malformed = await openWs(`${server.wsUrl}/ws?uuid=not-a-ticket`);
    const spent = await openWs(`${server.wsUrl}/ws?uuid=${alice}`);
    assert.deepEqual([malformed.ok, spent.ok], [false, false]);
    const bobWs = await openedWs(`${server.wsUrl}/ws?uuid=${bob}`);
    assert.equal((await closure(bobWs)).code, 4001);
    await recorder.waitFor(8); // the server's side of the close, after the client's
    const aliceClosed = closure(aliceWs);
    await service.disconnectUser('alice');
    assert.equal((await aliceClosed).code, 4003);
    await recorder.waitFor(10);

    const where = { transport: 'ws', namespace: '/ws' };
    assert.deepEqual(recorder.events(), [
      ...ISSUED,
      ['accept', { userId: 'alice', ...where }],
      ['refuse', { stage: 'handshake', code: 'ticket_malformed', ...where }],
      ['refuse', { stage: 'handshake', code: 'ticket_invalid', ...where }],
      ['accept', { userId: 'bob', ...where }],
      ['sessionEnd', { userId: 'bob', ...where, code: 'session_expired' }],
      ['revoke', { userId: 'alice', action: 'disconnect', code: 'user_revoked' }],
      ['sessionEnd', { userId: 'alice', ...where, code: 'user_revoked' }],
    ]);
  });

  it('a refresh frame is refreshed or refused; a client close ends with code null', async () => {
    const ws: WebSocket = await openedWs(
      `${server.wsUrl}/ws?uuid=${await ticket(signJwt({ sub: 'dave' }))}`,
    );
    recorder = new EventsRecorder();
    const fresh = await ticket(signJwt({ sub: 'dave' }));
    const ok = await askWs<{ ok: boolean }>(ws, 'ws-ticket:refresh', { uuid: fresh });
    assert.equal(ok.ok, true);
    const refused = await askWs<{ ok: boolean }>(ws, 'ws-ticket:refresh', { uuid: 'x' });
    assert.equal(refused.ok, false);
    await closeWs(ws);
    await recorder.waitFor(4);
    const where = { userId: 'dave', transport: 'ws', namespace: '/ws' };
    assert.deepEqual(recorder.events(), [
      ['issue', { userId: 'dave' }],
      ['refresh', { ...where, result: 'refreshed', code: null }],
      ['refresh', { ...where, result: 'refused', code: 'ticket_malformed' }],
      ['sessionEnd', { ...where, code: null }],
    ]);
  });

  it('a client cannot choose the namespace: an upgrade on another path is refused by path, not labelled', async () => {
    recorder = new EventsRecorder();
    const outcome = await openWs(`${server.wsUrl}/ws-evil-${'x'.repeat(50)}?uuid=not-a-ticket`);
    assert.equal(outcome.ok, false);
    const text = JSON.stringify(recorder.raw);
    assert.ok(!text.includes('ws-evil'), 'a client-chosen path reached an event');
  });
});
