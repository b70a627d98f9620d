import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { ticketFor } from '../support/app.js';
import { signJwt } from '../support/jwt.js';
import {
  ConnectionLog,
  EchoWsGateway,
  offeredToApp,
  ticketModule,
  VersionedWsGateway,
} from './fixtures/gateways.js';
import {
  ask,
  closeWs,
  openedWs,
  openWs,
  type StartedWsApp,
  startWsApp,
} from './fixtures/ws-app.js';

describe('raw WebSocket Sec-WebSocket-Protocol ticket scheme', () => {
  let server: StartedWsApp;
  const ticket = () => ticketFor(server.url, signJwt({ sub: 'alice' }));
  const url = (path = '/ws', query = '') => `${server.wsUrl}${path}${query}`;

  before(async () => {
    server = await startWsApp({
      imports: [ticketModule()],
      providers: [EchoWsGateway, VersionedWsGateway, ConnectionLog],
    });
  });
  after(() => server.close());

  it('answers the ws-ticket marker, never the ticket entry, when nothing else was offered', async () => {
    const uuid = await ticket();
    // The ticket entry comes first: ws's default choice (the first offer) would echo it.
    const { protocol, ws } = await answeredProtocol(url(), [`ws-ticket.${uuid}`, 'ws-ticket']);
    assert.equal(protocol, 'ws-ticket');
    assert.equal(await ask(ws, 'protocol'), 'ws-ticket');
    await closeWs(ws);
  });

  it("negotiates the client's real subprotocol offered beside the ticket entries", async () => {
    const uuid = await ticket();
    const outcome = await openWs(url(), ['chat.v1', 'ws-ticket', `ws-ticket.${uuid}`]);
    assert.ok(outcome.ok);
    assert.equal(outcome.protocol, 'chat.v1');
    assert.equal(await ask(outcome.ws, 'protocol'), 'chat.v1');
    await closeWs(outcome.ws);
  });

  it("shows the gateway's handleProtocols only the real subprotocols and echoes its choice", async () => {
    const uuid = await ticket();
    offeredToApp.length = 0;
    const outcome = await openWs(url('/ws/versioned'), [
      'chat.v1',
      'ws-ticket',
      'chat.v2',
      `ws-ticket.${uuid}`,
    ]);
    assert.ok(outcome.ok);
    assert.equal(outcome.protocol, 'chat.v2');
    assert.deepEqual(offeredToApp, [['chat.v1', 'chat.v2']]);
    await closeWs(outcome.ws);
  });

  it("answers the marker without consulting the gateway's handleProtocols when only the scheme was offered", async () => {
    const uuid = await ticket();
    offeredToApp.length = 0;
    const outcome = await openWs(url('/ws/versioned'), ['ws-ticket', `ws-ticket.${uuid}`]);
    assert.ok(outcome.ok);
    assert.equal(outcome.protocol, 'ws-ticket');
    assert.deepEqual(offeredToApp, []);
    await closeWs(outcome.ws);
  });

  it('leaves subprotocol negotiation alone for a ticket sent in the query', async () => {
    const outcome = await openWs(url('/ws', `?uuid=${await ticket()}`), ['chat.v1']);
    assert.ok(outcome.ok);
    assert.equal(outcome.protocol, 'chat.v1');
    await closeWs(outcome.ws);
  });

  it('refuses a ticket entry without the ws-ticket marker with 401 ticket_malformed and spends no ticket', async () => {
    const uuid = await ticket();
    const outcome = await openWs(url(), [`ws-ticket.${uuid}`]);
    assert.equal(outcome.ok, false);
    assert.equal(!outcome.ok && outcome.status, 401);
    assert.equal(!outcome.ok && outcome.code, 'ticket_malformed');
    await closeWs(await openedWs(url(), ['ws-ticket', `ws-ticket.${uuid}`]));
  });

  it('refuses two ticket entries with 401 ticket_malformed and spends neither', async () => {
    const [first, second] = [await ticket(), await ticket()];
    const outcome = await openWs(url(), ['ws-ticket', `ws-ticket.${first}`, `ws-ticket.${second}`]);
    assert.equal(!outcome.ok && outcome.code, 'ticket_malformed');
    await closeWs(await openedWs(url('/ws', `?uuid=${first}`)));
    await closeWs(await openedWs(url('/ws', `?uuid=${second}`)));
  });

  it('refuses the marker alone with 401 ticket_missing', async () => {
    const outcome = await openWs(url(), ['ws-ticket']);
    assert.equal(!outcome.ok && outcome.status, 401);
    assert.equal(!outcome.ok && outcome.code, 'ticket_missing');
  });

  it('prefers the Sec-WebSocket-Protocol ticket over the query one, as Socket.IO prefers auth', async () => {
    const uuid = await ticket();
    const outcome = await openWs(url('/ws', `?uuid=${randomUUID()}`), [
      'ws-ticket',
      `ws-ticket.${uuid}`,
    ]);
    assert.ok(outcome.ok);
    await closeWs(outcome.ws);
  });

  it('answers a syntactically invalid Sec-WebSocket-Protocol with 400 before any ticket is read', async () => {
    const uuid = await ticket();
    const outcome = await openWs(url(), [], {
      headers: { 'Sec-WebSocket-Protocol': `ws-ticket, ws-ticket.${uuid}, not a token` },
    });
    assert.equal(!outcome.ok && outcome.status, 400);
    await closeWs(await openedWs(url(), ['ws-ticket', `ws-ticket.${uuid}`]));
  });
});

/** Opens a socket and returns the Sec-WebSocket-Protocol the server answered, read off the wire. */
function answeredProtocol(
  url: string,
  protocols: string[],
): Promise<{ protocol: string | undefined; ws: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    ws.once('upgrade', (response: IncomingMessage) => {
      const protocol = response.headers['sec-websocket-protocol'];
      ws.once('open', () => resolve({ protocol, ws }));
    });
    ws.once('error', reject);
  });
}
