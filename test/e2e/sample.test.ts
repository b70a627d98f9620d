import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
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
});
