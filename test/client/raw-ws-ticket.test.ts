import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fetchTicket, ticketProtocols } from '../../lib/client/index.js';
import { signJwt } from '../support/jwt.js';
import { ConnectionLog, EchoWsGateway, ticketModule } from '../ws/fixtures/gateways.js';
import { ask, closeWs, openWs, type StartedWsApp, startWsApp } from '../ws/fixtures/ws-app.js';

describe('Raw WebSocket clients with fetchTicket and ticketProtocols', () => {
  let server: StartedWsApp;
  const options = () => ({
    ticketUrl: `${server.url}/auth/ws-ticket`,
    getToken: () => signJwt({ sub: 'alice' }),
  });

  before(async () => {
    server = await startWsApp({
      imports: [ticketModule()],
      providers: [EchoWsGateway, ConnectionLog],
    });
  });
  after(() => server.close());

  it('opens a raw WebSocket with a fetched ticket in Sec-WebSocket-Protocol', async () => {
    const { uuid, expiresIn } = await fetchTicket(options());
    assert.ok(expiresIn > 0);
    const outcome = await openWs(`${server.wsUrl}/ws`, ticketProtocols(uuid));
    assert.ok(outcome.ok, 'the upgrade was refused');
    assert.equal(outcome.protocol, 'ws-ticket');
    assert.deepEqual(await ask(outcome.ws, 'whoami'), { id: 'alice' });
    await closeWs(outcome.ws);
  });

  it('gets a refusal, not a socket, when the same ticket is offered twice', async () => {
    const { uuid } = await fetchTicket(options());
    const first = await openWs(`${server.wsUrl}/ws`, ticketProtocols(uuid));
    const second = await openWs(`${server.wsUrl}/ws`, ticketProtocols(uuid));
    assert.ok(first.ok);
    assert.deepEqual(second.ok ? 'open' : [second.status, second.code], [401, 'ticket_invalid']);
    await closeWs(first.ws);
  });
});
