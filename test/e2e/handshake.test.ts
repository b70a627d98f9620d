import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Manager } from 'socket.io-client';
import { WsTicketModule } from '../../lib/index.js';
import { ChatTestGateway, NotificationsTestGateway } from '../fixtures/gateways.js';
import { CountingStore, DownStore } from '../fixtures/stores.js';
import { TestUsers } from '../fixtures/users.js';
import { PLATFORMS, type StartedApp, startApp, startOn, ticketFor } from '../support/app.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { ask, connect, connected } from '../support/sockets.js';

for (const platform of PLATFORMS) {
  const start = startOn(platform);

  describe(`Socket.IO handshake authentication [${platform}]`, () => {
    const users = new TestUsers();
    const store = new CountingStore();
    const alice = signJwt({ sub: '1' });
    let started: StartedApp;
    let url: string;
    const ticket = () => ticketFor(url, alice);

    before(async () => {
      started = await start({
        imports: [
          WsTicketModule.forRoot({
            jwt: { secret: TEST_SECRET },
            resolveUser: users.resolve,
            store,
          }),
        ],
        providers: [ChatTestGateway, NotificationsTestGateway],
      });
      url = started.url;
    });
    after(() => started.close());

    it('accepts a ticket sent in the auth payload and exposes the user to handlers', async () => {
      const socket = await connected(`${url}/chat`, { auth: { uuid: await ticket() } });
      assert.deepEqual(await ask(socket, 'whoami'), { id: '1', name: 'alice' });
      assert.equal(await ask(socket, 'name'), 'alice');
      socket.close();
    });

    it('accepts a ticket sent as the ?uuid= query parameter', async () => {
      const socket = await connected(`${url}/chat`, { query: { uuid: await ticket() } });
      assert.deepEqual(await ask(socket, 'whoami'), { id: '1', name: 'alice' });
      socket.close();
    });

    it('refuses a ticket used a second time with ticket_invalid', async () => {
      const uuid = await ticket();
      const first = await connected(`${url}/chat`, { auth: { uuid } });
      first.close();
      const second = await connect(`${url}/chat`, { auth: { uuid } });
      assert.equal(second.ok, false);
      assert.equal(!second.ok && second.code, 'ticket_invalid');
      assert.equal(!second.ok && second.message, 'ticket_invalid');
    });

    it('refuses a handshake without a ticket with ticket_missing', async () => {
      const result = await connect(`${url}/chat`);
      assert.equal(!result.ok && result.code, 'ticket_missing');
    });

    it('refuses an unknown well-formed ticket with ticket_invalid', async () => {
      const result = await connect(`${url}/chat`, { auth: { uuid: crypto.randomUUID() } });
      assert.equal(!result.ok && result.code, 'ticket_invalid');
    });

    it('protects the root namespace, which has no gateway', async () => {
      const refused = await connect(url);
      assert.equal(!refused.ok && refused.code, 'ticket_missing');
      const socket = await connected(url, { auth: { uuid: await ticket() } });
      socket.close();
    });

    it('refuses a ticket whose user was deactivated after issue with user_rejected', async () => {
      const bob = signJwt({ sub: '2' });
      const uuid = await ticketFor(url, bob);
      users.setActive('2', false);
      try {
        const result = await connect(`${url}/chat`, { auth: { uuid } });
        assert.equal(!result.ok && result.code, 'user_rejected');
      } finally {
        users.setActive('2', true);
      }
    });

    it('lets exactly one of 50 parallel connections in with one ticket', async () => {
      const uuid = await ticket();
      const results = await Promise.all(
        Array.from({ length: 50 }, () => connect(`${url}/chat`, { auth: { uuid } })),
      );
      const accepted = results.filter((r) => r.ok);
      assert.equal(accepted.length, 1);
      assert.ok(results.every((r) => r.ok || r.code === 'ticket_invalid'));
      for (const r of accepted) if (r.ok) r.socket.close();
    });

    it('consumes one ticket once for two namespaces multiplexed over one connection', async () => {
      const uuid = await ticket();
      const takesBefore = store.takes.length;
      const manager = new Manager(url, { transports: ['websocket'], reconnection: false });
      const chat = manager.socket('/chat', { auth: { uuid } });
      const notifications = manager.socket('/notifications', { auth: { uuid } });
      const [a, b] = await Promise.all(
        [chat, notifications].map(
          (s) =>
            new Promise<string>((resolve) => {
              s.once('connect', () => resolve('ok'));
              s.once('connect_error', (e: Error) => resolve(e.message));
            }),
        ),
      );
      assert.deepEqual([a, b], ['ok', 'ok']);
      assert.equal(store.takes.length - takesBefore, 1);
      assert.deepEqual(await ask(notifications, 'whoami'), { id: '1', name: 'alice' });
      // The ticket is spent for every other connection.
      const other = await connect(`${url}/chat`, { auth: { uuid } });
      assert.equal(!other.ok && other.code, 'ticket_invalid');
      chat.close();
      notifications.close();
    });

    it('refuses an expired ticket with ticket_invalid', async () => {
      const shortLived = await start({
        imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, ttl: 0.2 })],
        providers: [ChatTestGateway],
      });
      try {
        const uuid = await ticketFor(shortLived.url, alice);
        await new Promise((resolve) => setTimeout(resolve, 400));
        const result = await connect(`${shortLived.url}/chat`, { auth: { uuid } });
        assert.equal(!result.ok && result.code, 'ticket_invalid');
      } finally {
        await shortLived.close();
      }
    });
  });

  describe(`Malformed tickets [${platform}]`, () => {
    const store = new CountingStore();
    const alice = signJwt({ sub: '1' });
    let started: StartedApp;

    before(async () => {
      started = await start({
        imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, store })],
        providers: [ChatTestGateway],
      });
    });
    after(() => started.close());

    const uuid = '0b3c7a8e-5f4d-4c2b-9a1e-7d6f5e4c3b2a';
    const battery: Array<[string, Record<string, unknown>, string]> = [
      ['an empty string', { uuid: '' }, 'ticket_missing'],
      ['10 kB of text', { uuid: 'a'.repeat(10_240) }, 'ticket_malformed'],
      ['a wildcard', { uuid: '*' }, 'ticket_malformed'],
      ['a store-key-looking string', { uuid: `ws-ticket:${'a'.repeat(64)}` }, 'ticket_malformed'],
      ['an uppercase UUID', { uuid: uuid.toUpperCase() }, 'ticket_malformed'],
      ['a UUID with surrounding spaces', { uuid: ` ${uuid} ` }, 'ticket_malformed'],
      ['a v1 UUID', { uuid: 'c232ab00-9414-11ec-b3c8-9f6bdeced846' }, 'ticket_malformed'],
      ['a number', { uuid: 42 }, 'ticket_malformed'],
      ['an object', { uuid: { $gt: '' } }, 'ticket_malformed'],
      ['an array', { uuid: [uuid] }, 'ticket_malformed'],
      ['a boolean', { uuid: true }, 'ticket_malformed'],
      ['a JWT in place of a ticket', { uuid: signJwt({ sub: '1' }) }, 'ticket_malformed'],
    ];

    for (const [name, auth, code] of battery) {
      it(`refuses ${name} with ${code} without touching the store, and keeps serving`, async () => {
        const takes = store.takes.length;
        const result = await connect(`${started.url}/chat`, { auth });
        assert.equal(result.ok, false);
        assert.equal(!result.ok && result.code, code);
        assert.equal(store.takes.length, takes, 'the store was queried');
        const good = await connected(`${started.url}/chat`, {
          auth: { uuid: await ticketFor(started.url, alice) },
        });
        good.close();
      });
    }
  });

  describe(`Store outage [${platform}]`, () => {
    for (const mode of ['fail', 'hang'] as const) {
      it(`refuses handshakes with store_unavailable when the store ${mode === 'fail' ? 'errors' : 'does not answer'}`, async () => {
        const started = await start({
          imports: [
            WsTicketModule.forRoot({
              jwt: { secret: TEST_SECRET },
              store: new DownStore(mode),
              storeTimeout: 200,
            }),
          ],
          providers: [ChatTestGateway],
        });
        try {
          const result = await connect(`${started.url}/chat`, {
            auth: { uuid: crypto.randomUUID() },
          });
          assert.equal(!result.ok && result.code, 'store_unavailable');
          const response = await fetch(`${started.url}/auth/ws-ticket`, {
            method: 'POST',
            headers: { authorization: `Bearer ${signJwt({ sub: '1' })}` },
          });
          assert.equal(response.status, 503);
          const body = (await response.json()) as Record<string, unknown>;
          assert.equal(body.code, 'store_unavailable');
          assert.ok(
            !JSON.stringify(body).includes('ECONNREFUSED'),
            'internal error details leaked',
          );
          assert.equal(response.headers.get('cache-control'), 'no-store');
          assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
        } finally {
          await started.close();
        }
      });
    }
  });
}

describe('Namespaces joined later on a multiplexed connection', () => {
  it('refuses a spent ticket once its lifetime has passed, even on the same connection', async () => {
    const started = await startApp({
      imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, ttl: 0.3 })],
      providers: [ChatTestGateway, NotificationsTestGateway],
    });
    try {
      const uuid = await ticketFor(started.url, signJwt({ sub: '1' }));
      const manager = new Manager(started.url, { transports: ['websocket'], reconnection: false });
      const chat = manager.socket('/chat', { auth: { uuid } });
      await new Promise<void>((resolve) => chat.once('connect', () => resolve()));
      await new Promise((resolve) => setTimeout(resolve, 400));
      const late = manager.socket('/notifications', { auth: { uuid } });
      const error = await new Promise<Error & { data?: { code: string } }>((resolve) =>
        late.once('connect_error', resolve),
      );
      assert.equal(error.data?.code, 'ticket_invalid');
      chat.close();
      late.close();
    } finally {
      await started.close();
    }
  });
});
