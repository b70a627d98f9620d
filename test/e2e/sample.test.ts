import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import { requestTicket, ticketFor } from '../support/app.js';
import { login, type SampleProcess, startSample } from '../support/sample-process.js';
import { ask, connect, connected, next } from '../support/sockets.js';

describe('The sample app (npm run sample)', () => {
  let sample: SampleProcess;
  let url: string;

  before(async () => {
    sample = await startSample({ JWT_TTL: '120', WS_TICKET_TTL: '20' });
    url = sample.url;
  });
  after(() => sample.stop());

  it('logs in with the in-memory users and signs an HS256 token with sub and exp', async () => {
    const token = await login(url, 'alice');
    const [head, payload] = token
      .split('.')
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
    assert.equal(head.alg, 'HS256');
    assert.equal(payload.sub, '1');
    assert.equal(payload.exp - payload.iat, 120);
  });

  it('answers 401 to a wrong password', async () => {
    await assert.rejects(login(url, 'alice', 'wrong'), /401/);
  });

  it('issues tickets at /api/auth/ws-ticket with the configured TTL', async () => {
    const response = await requestTicket(url, await login(url, 'bob'), '/api/auth/ws-ticket');
    assert.equal(response.status, 201);
    assert.equal(((await response.json()) as { expiresIn: number }).expiresIn, 20);
  });

  it('sends no X-Powered-By and no ETag on the API, and nosniff everywhere', async () => {
    const answers = [
      await requestTicket(url, await login(url, 'bob'), '/api/auth/ws-ticket'),
      await requestTicket(url, undefined, '/api/auth/ws-ticket'),
      await fetch(`${url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'bob', password: 'bob-password' }),
      }),
      await fetch(`${url}/`),
    ];
    for (const answer of answers) {
      await answer.arrayBuffer();
      assert.equal(answer.headers.get('x-powered-by'), null, answer.url);
      assert.equal(answer.headers.get('x-content-type-options'), 'nosniff', answer.url);
    }
    for (const answer of answers.slice(0, 3)) assert.equal(answer.headers.get('etag'), null);
  });

  it('answers whoami on /chat and /notifications', async () => {
    const token = await login(url, 'carol');
    for (const namespace of ['/chat', '/notifications']) {
      const uuid = await ticketFor(url, token, '/api/auth/ws-ticket');
      const socket = await connected(`${url}${namespace}`, { auth: { uuid } });
      assert.deepEqual(await ask(socket, 'whoami'), { id: '3', username: 'carol' });
      socket.close();
    }
  });

  it('broadcasts /chat messages to every socket, the sender included', async () => {
    const [alice, bob] = await Promise.all(
      ['alice', 'bob'].map(async (name) => {
        const uuid = await ticketFor(url, await login(url, name), '/api/auth/ws-ticket');
        return connected(`${url}/chat`, { auth: { uuid } });
      }),
    );
    const received = Promise.all([next(alice, 'message'), next(bob, 'message')]);
    alice.emit('message', { text: 'hello bob' });
    assert.deepEqual(await received, [
      { from: 'alice', text: 'hello bob' },
      { from: 'alice', text: 'hello bob' },
    ]);
    alice.close();
    bob.close();
  });

  it('refuses sockets without a ticket', async () => {
    const result = await connect(`${url}/chat`);
    assert.equal(!result.ok && result.code, 'ticket_missing');
  });

  const bearer = (token: string) => ({
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  });
  const open = async (token: string, namespace: string) =>
    connected(`${url}${namespace}`, {
      auth: { uuid: await ticketFor(url, token, '/api/auth/ws-ticket') },
    });
  const closure = (socket: Socket) =>
    new Promise<{ code?: string; reason: string }>((resolve) => {
      let code: string | undefined;
      socket.once('unauthorized', (payload: { code: string }) => {
        code = payload.code;
      });
      socket.once('disconnect', (reason) => resolve({ code, reason }));
    });

  it('logout-all answers 204, closes all of the caller’s sockets and ends their tokens and tickets', async () => {
    const alice = await login(url, 'alice');
    const [chat, notifications] = await Promise.all([
      open(alice, '/chat'),
      open(alice, '/notifications'),
    ]);
    const bob = await open(await login(url, 'bob'), '/chat');
    const pending = await ticketFor(url, alice, '/api/auth/ws-ticket');
    const closed = Promise.all([closure(chat), closure(notifications)]);
    const response = await fetch(`${url}/api/auth/logout-all`, bearer(alice));
    assert.equal(response.status, 204);
    for (const result of await closed)
      assert.deepEqual(result, { code: 'user_revoked', reason: 'io server disconnect' });
    assert.equal(bob.connected, true);
    assert.deepEqual(await ask(bob, 'whoami'), { id: '2', username: 'bob' });
    bob.close();
    assert.equal((await requestTicket(url, alice, '/api/auth/ws-ticket')).status, 401);
    const stale = await connect(`${url}/chat`, { auth: { uuid: pending } });
    assert.equal(!stale.ok && stale.code, 'ticket_invalid');
    // A new login starts a new session.
    (await open(await login(url, 'alice'), '/chat')).close();
  });

  it('logout-all without a valid bearer answers 401', async () => {
    assert.equal((await fetch(`${url}/api/auth/logout-all`, { method: 'POST' })).status, 401);
  });

  it('deactivate answers 204, closes the sockets and refuses the user everywhere after', async () => {
    const carol = await login(url, 'carol');
    const socket = await open(carol, '/chat');
    const earlier = await ticketFor(url, carol, '/api/auth/ws-ticket');
    const closed = closure(socket);
    assert.equal((await fetch(`${url}/api/account/deactivate`, bearer(carol))).status, 204);
    assert.deepEqual(await closed, { code: 'user_revoked', reason: 'io server disconnect' });
    assert.equal((await requestTicket(url, carol, '/api/auth/ws-ticket')).status, 401);
    // disconnectUser deleted the tickets issued before it.
    const refused = await connect(`${url}/chat`, { auth: { uuid: earlier } });
    assert.equal(!refused.ok && refused.code, 'ticket_invalid');
    await assert.rejects(login(url, 'carol'), /401/);
  });
});

describe('The sample app with ALLOWED_ORIGINS', () => {
  it('refuses sockets from other origins with origin_forbidden', async () => {
    const sample = await startSample({
      ALLOWED_ORIGINS: 'http://chat.example, http://other.example',
    });
    try {
      const token = await login(sample.url, 'alice');
      const attempt = async (origin: string) =>
        connect(`${sample.url}/chat`, {
          auth: { uuid: await ticketFor(sample.url, token, '/api/auth/ws-ticket') },
          extraHeaders: { origin },
        });
      const allowed = await attempt('http://other.example');
      assert.equal(allowed.ok, true);
      if (allowed.ok) allowed.socket.close();
      const refused = await attempt('http://evil.example');
      assert.equal(!refused.ok && refused.code, 'origin_forbidden');
    } finally {
      await sample.stop();
    }
  });
});

describe('The sample app shutting down', () => {
  for (const entry of ['main.js', 'main-ws.js']) {
    it(`exits on SIGTERM while a client holds a request open (${entry})`, async () => {
      const sample = await startSample({}, entry);
      const { port } = new URL(sample.url);
      const client = createConnection({ host: '127.0.0.1', port: Number(port) });
      try {
        // `Expect: 100-continue` makes the server say when it has the request; the body never
        // comes, so the request stays in flight, like a page's ticket request during a restart.
        const continued = new Promise<string>((resolve, reject) => {
          client.once('data', (chunk) => resolve(chunk.toString('latin1')));
          client.once('error', reject);
        });
        client.write(
          'POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
            'Content-Length: 64\r\nExpect: 100-continue\r\n\r\n',
        );
        assert.match(await continued, /^HTTP\/1\.1 100 Continue/);
        const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
        // Fails (and kills it) when the sample is still running 10 s after SIGTERM.
        await sample.stop();
        await closed;
      } finally {
        client.destroy();
        await sample.stop();
      }
    });
  }
});
