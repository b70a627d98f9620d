import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { INestApplication } from '@nestjs/common';
import type { WebSocket } from 'ws';
import { WsTicketWsAdapter } from '../../lib/ws/index.js';
import { createSampleApp } from '../../sample/bootstrap.js';
import type { SampleConfig } from '../../sample/config.js';
import { WsChatGateway } from '../../sample/ws/ws-chat.gateway.js';
import { ask, closeWs, closure, nextFrame, openedWs, openWs, send } from './fixtures/ws-app.js';

const config: SampleConfig = {
  port: 0,
  host: '127.0.0.1',
  jwtSecret: 'sample-ws-test-secret-0123456789abcdef',
  jwtTtl: 900,
  wsTicketTtl: 30,
};

describe('sample:ws raw WebSocket chat contract', () => {
  let app: INestApplication;
  let http: string;
  let chat: string;
  const open: WebSocket[] = [];

  /** Logs in through the sample's API and returns the access token. */
  async function login(username: string): Promise<string> {
    const response = await fetch(`${http}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password: `${username}-password` }),
    });
    return ((await response.json()) as { access_token: string }).access_token;
  }

  /** Logs in through the sample's API and opens /ws/chat with a fresh ticket. */
  async function join(
    username: string,
    via: 'query' | 'protocol' = 'query',
    access_token?: string,
  ): Promise<WebSocket> {
    access_token ??= await login(username);
    const issued = await fetch(`${http}/api/auth/ws-ticket`, {
      method: 'POST',
      headers: { authorization: `Bearer ${access_token}` },
    });
    assert.equal(issued.status, 201);
    const { uuid } = (await issued.json()) as { uuid: string };
    const ws =
      via === 'query'
        ? await openedWs(`${chat}?uuid=${uuid}`)
        : await openedWs(chat, ['ws-ticket', `ws-ticket.${uuid}`]);
    open.push(ws);
    return ws;
  }

  before(async () => {
    app = await createSampleApp(config, {
      gateways: [WsChatGateway],
      adapter: (nest) => new WsTicketWsAdapter(nest),
    });
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as { port: number };
    http = `http://127.0.0.1:${port}`;
    chat = `ws://127.0.0.1:${port}/ws/chat`;
  });
  after(async () => {
    await Promise.all(open.map(closeWs));
    await app.close();
  });

  it('answers whoami with { id, username }', async () => {
    const alice = await join('alice');
    assert.deepEqual(await ask(alice, 'whoami'), { id: '1', username: 'alice' });
  });

  it('broadcasts a message as { from, text } to every client, the sender included', async () => {
    const alice = await join('alice');
    const bob = await join('bob', 'protocol');
    const atAlice = nextFrame(alice, 'message');
    const atBob = nextFrame(bob, 'message');
    send(bob, 'message', { text: 'hello alice' });
    assert.deepEqual(await atAlice, { from: 'bob', text: 'hello alice' });
    assert.deepEqual(await atBob, { from: 'bob', text: 'hello alice' });
  });

  it('answers an empty message with an exception frame { code: "message_invalid" }', async () => {
    const carol = await join('carol');
    const exception = nextFrame<{ code: string }>(carol, 'exception');
    send(carol, 'message', { text: ' ' });
    assert.equal((await exception).code, 'message_invalid');
  });

  it('refuses /ws/chat without a ticket with 401 ticket_missing', async () => {
    const outcome = await openWs(chat);
    assert.equal(!outcome.ok && outcome.status, 401);
    assert.equal(!outcome.ok && outcome.code, 'ticket_missing');
  });

  it("closes the caller's sockets with 4003 user_revoked on POST /api/auth/logout-all, and no one else's", async () => {
    const token = await login('alice');
    const alice = await join('alice', 'query', token);
    const bob = await join('bob');
    const closed = closure(alice);
    const response = await fetch(`${http}/api/auth/logout-all`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(response.status, 204);
    assert.deepEqual(await closed, { code: 4003, reason: 'user_revoked' });
    assert.equal(bob.readyState, bob.OPEN);
    assert.deepEqual(await ask(bob, 'whoami'), { id: '2', username: 'bob' });
  });

  it('serves /ws/chat outside the HTTP prefix: /api/ws/chat has no gateway', async () => {
    const outcome = await openWs(chat.replace('/ws/chat', '/api/ws/chat'));
    assert.equal(outcome.ok, false);
    assert.equal(!outcome.ok && outcome.status, undefined);
  });
});
