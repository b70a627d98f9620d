import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { Manager } from 'socket.io-client';
import { attachTicketAuth, ticketAuth } from '../../lib/client/index.js';
import { never, ticketBody } from '../support/hostile-http.js';
import { signJwt } from '../support/jwt.js';
import { ask, next } from '../support/sockets.js';
import { hostileSuite, sleep, type WatchedApp } from './fixtures/watched-app.js';

/** Answers a held request with a real, still valid ticket, if its client is still there. */
async function answerLate(app: WatchedApp, res: ServerResponse, sub: string): Promise<string> {
  const uuid = await app.ticket(sub);
  if (!res.destroyed) {
    res.writeHead(201, { 'content-type': 'application/json' });
    res.end(JSON.stringify(ticketBody(uuid)));
  }
  return uuid;
}

describe('Superseded ticket requests (real app, Socket.IO)', () => {
  const suite = hostileSuite();
  const { serve } = suite;
  const alice = () => signJwt({ sub: 'alice' });

  it('drops a slow ticket after a transport drop: one CONNECT per connection, the stale ticket never sent', async () => {
    const held: ServerResponse[] = [];
    const server = await serve((req, res, request) => {
      if (held.length === 0) held.push(res);
      else suite.app.forward('alice')(req, res, request);
    });
    const created = suite.client({ ticketUrl: `${server.url}/ticket`, getToken: alice });
    const { socket } = created;
    socket.connect();
    const slow = await server.request(1);
    suite.app.adapter.dropTransports();
    await next(socket, 'connect');
    await slow.closed;
    assert.equal(slow.abandoned, true, 'the superseded request was not aborted');
    const stale = await answerLate(suite.app, held[0], 'alice');
    await sleep(300);

    assert.ok(!suite.app.adapter.seen.includes(stale), 'the stale ticket reached a handshake');
    assert.deepEqual(suite.app.adapter.connectsTo('/chat'), [1]);
    assert.equal(socket.connected, true);
    assert.equal(((await ask(socket, 'whoami')) as { sub: string }).sub, 'alice');
  });

  it('aborts the pending ticket request on detach() and never sends its ticket', async () => {
    const server = await serve(never);
    const created = suite.client({ ticketUrl: `${server.url}/ticket`, getToken: alice });
    created.socket.connect();
    const pending = await server.request(1);
    created.handle.detach();
    await pending.closed;
    assert.equal(pending.abandoned, true);
    await sleep(200);
    assert.deepEqual(suite.app.adapter.connectsTo('/chat'), []);
  });

  it('never sends a ticket that arrives after socket.close(), even on a shared connection', async () => {
    const held: ServerResponse[] = [];
    const slow = await serve((_req, res) => held.push(res));
    const fast = await serve(suite.app.forward('alice'));
    const manager = new Manager(suite.app.url, { transports: ['websocket'], autoConnect: false });
    const notifications = manager.socket('/notifications');
    const chat = manager.socket('/chat');
    const handles = [
      attachTicketAuth(notifications, { ticketUrl: `${fast.url}/ticket`, getToken: alice }),
      attachTicketAuth(chat, { ticketUrl: `${slow.url}/ticket`, getToken: alice }),
    ];
    suite.onCleanup(() => {
      for (const handle of handles) handle.detach();
      notifications.close();
      chat.close();
    });
    notifications.connect();
    await next(notifications, 'connect');
    chat.connect();
    await slow.request(1);
    chat.close();
    const late = await answerLate(suite.app, held[0], 'alice');
    await sleep(300);

    assert.ok(!suite.app.adapter.seen.includes(late), 'the closed socket sent its ticket');
    assert.deepEqual(suite.app.adapter.connectsTo('/chat'), []);
    assert.equal(notifications.connected, true, 'the shared connection was closed');
  });

  it('calls back only the latest auth call: a superseded one is aborted and never called', async () => {
    const held: ServerResponse[] = [];
    const server = await serve((_req, res) => held.push(res));
    const auth = ticketAuth({ ticketUrl: `${server.url}/ticket`, getToken: alice });
    const calls: string[] = [];
    auth(() => calls.push('first'));
    const first = await server.request(1);
    const latest = new Promise((resolve) =>
      auth((data) => resolve(calls.push(`latest ${data.uuid}`))),
    );
    await server.request(2);
    await first.closed;
    assert.equal(first.abandoned, true);
    const uuid = await answerLate(suite.app, held[1], 'alice');
    await latest;
    await sleep(100);
    assert.deepEqual(calls, [`latest ${uuid}`]);
    assert.equal(auth.lastFailure, undefined);
  });
});
