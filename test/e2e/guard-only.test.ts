import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import { WsTicketModule, WsTicketService } from '../../lib/index.js';
import { ChatTestGateway } from '../fixtures/gateways.js';
import { CountingStore } from '../fixtures/stores.js';
import { type StartedApp, startApp, ticketFor } from '../support/app.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { ask, connected, next } from '../support/sockets.js';

/** What Nest's WsExceptionsHandler emits for a guard refusal. */
type ExceptionEvent = { code?: string; message?: string };

async function refusal(socket: Socket, event: string): Promise<ExceptionEvent> {
  const exception = next<ExceptionEvent>(socket, 'exception');
  socket.emit(event);
  return exception;
}

describe('WsTicketGuard without the ticket adapter (plain IoAdapter)', () => {
  const store = new CountingStore();
  let started: StartedApp;
  const alice = signJwt({ sub: '1' });

  before(async () => {
    started = await startApp(
      {
        imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, store, guardOnly: true })],
        providers: [ChatTestGateway],
      },
      { adapter: 'plain' },
    );
  });
  after(() => started.close());

  it('consumes the handshake ticket on the first guarded message, once', async () => {
    const uuid = await ticketFor(started.url, alice);
    const socket = await connected(`${started.url}/chat`, { auth: { uuid } });
    const takes = store.takes.length;
    assert.equal(((await ask(socket, 'whoami')) as { sub: string }).sub, '1');
    assert.equal(((await ask(socket, 'whoami')) as { sub: string }).sub, '1');
    assert.equal(store.takes.length - takes, 1);
    socket.close();
  });

  it('refuses guarded messages with a coded WsException when the ticket is missing', async () => {
    const socket = await connected(`${started.url}/chat`);
    const error = await refusal(socket, 'whoami');
    assert.equal(error.code, 'ticket_missing');
    assert.equal(typeof error.message, 'string');
    socket.close();
  });

  it('refuses a replayed ticket with ticket_invalid', async () => {
    const uuid = await ticketFor(started.url, alice);
    const first = await connected(`${started.url}/chat`, { auth: { uuid } });
    await ask(first, 'whoami');
    const second = await connected(`${started.url}/chat`, { auth: { uuid } });
    assert.equal((await refusal(second, 'whoami')).code, 'ticket_invalid');
    first.close();
    second.close();
  });

  it('refuses a malformed ticket with ticket_malformed without touching the store', async () => {
    const socket = await connected(`${started.url}/chat`, { auth: { uuid: '*' } });
    const takes = store.takes.length;
    assert.equal((await refusal(socket, 'whoami')).code, 'ticket_malformed');
    assert.equal(store.takes.length, takes);
    socket.close();
  });

  it('closes the sockets it admitted when their user is disconnected, and leaves the others', async () => {
    const bob = signJwt({ sub: '2' });
    const aliceSocket = await connected(`${started.url}/chat`, {
      auth: { uuid: await ticketFor(started.url, alice) },
    });
    const bobSocket = await connected(`${started.url}/chat`, {
      auth: { uuid: await ticketFor(started.url, bob) },
    });
    await ask(aliceSocket, 'whoami');
    await ask(bobSocket, 'whoami');
    const unauthorized = next<{ code: string }>(aliceSocket, 'unauthorized');
    const disconnected = next<string>(aliceSocket, 'disconnect');
    await started.app.get(WsTicketService).disconnectUser('1');
    assert.deepEqual(await unauthorized, { code: 'user_revoked' });
    assert.equal(await disconnected, 'io server disconnect');
    assert.equal(((await ask(bobSocket, 'whoami')) as { sub: string }).sub, '2');
    bobSocket.close();
  });

  it('refuses a guarded message whose ticket was revoked before it was used', async () => {
    const uuid = await ticketFor(started.url, alice);
    await started.app.get(WsTicketService).revokeUserTickets('1');
    const socket = await connected(`${started.url}/chat`, { auth: { uuid } });
    assert.equal((await refusal(socket, 'whoami')).code, 'ticket_invalid');
    socket.close();
  });
});
