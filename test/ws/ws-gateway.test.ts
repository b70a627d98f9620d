import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NestFactory } from '@nestjs/core';
import { WsTicketWsAdapter } from '../../lib/ws/index.js';
import { ticketFor } from '../support/app.js';
import { signJwt } from '../support/jwt.js';
import { freePort } from '../support/redis-server.js';
import {
  ConnectionLog,
  EchoWsGateway,
  GatedWsGateway,
  ownPortGateway,
  ticketModule,
  VersionedWsGateway,
} from './fixtures/gateways.js';
import {
  ask,
  closeWs,
  moduleOf,
  openedWs,
  openWs,
  type StartedWsApp,
  startWsApp,
} from './fixtures/ws-app.js';

describe('raw WebSocket gateways behind WsTicketWsAdapter', () => {
  let server: StartedWsApp;
  let sidePort: number;
  const ticket = (sub = 'alice') => ticketFor(server.url, signJwt({ sub }));

  before(async () => {
    sidePort = await freePort();
    server = await startWsApp({
      imports: [ticketModule()],
      providers: [EchoWsGateway, GatedWsGateway, ownPortGateway(sidePort), ConnectionLog],
    });
  });
  after(() => server.close());

  it('gives handleConnection the user in client.data.user', async () => {
    const log = server.app.get(ConnectionLog);
    const ws = await openedWs(`${server.wsUrl}/ws?uuid=${await ticket('bob')}`);
    await ask(ws, 'whoami');
    assert.deepEqual(log.users.at(-1), { id: 'bob' });
    await closeWs(ws);
  });

  it('lets WsTicketGuard pass and @WsUser(property) read the user', async () => {
    const ws = await openedWs(`${server.wsUrl}/ws?uuid=${await ticket('carol')}`);
    assert.equal(await ask(ws, 'whoami-id'), 'carol');
    await closeWs(ws);
  });

  it("runs the gateway's own verifyClient first, so its refusal spends no ticket", async () => {
    const uuid = await ticket();
    const refused = await openWs(`${server.wsUrl}/ws/gated?uuid=${uuid}`);
    assert.equal(!refused.ok && refused.status, 401);
    const ws = await openedWs(`${server.wsUrl}/ws/gated?uuid=${uuid}`, [], {
      headers: { 'x-gate': 'open' },
    });
    assert.deepEqual(await ask(ws, 'whoami'), { id: 'alice' });
    await closeWs(ws);
  });

  it('authenticates a gateway listening on its own port', async () => {
    const refused = await openWs(`ws://127.0.0.1:${sidePort}/side`);
    assert.equal(!refused.ok && refused.status, 401);
    assert.equal(!refused.ok && refused.code, 'ticket_missing');
    const ws = await openedWs(`ws://127.0.0.1:${sidePort}/side?uuid=${await ticket()}`);
    assert.deepEqual(await ask(ws, 'whoami'), { id: 'alice' });
    await closeWs(ws);
  });
});

describe('WsTicketWsAdapter without WsTicketModule', () => {
  it('refuses to start, rather than serve unauthenticated sockets', async () => {
    const app = await NestFactory.create(moduleOf({ providers: [VersionedWsGateway] }), {
      logger: false,
      abortOnError: false,
    });
    app.useWebSocketAdapter(new WsTicketWsAdapter(app));
    try {
      await assert.rejects(app.init(), /WsTicketService not found; import WsTicketModule/);
    } finally {
      await app.close();
    }
  });
});
