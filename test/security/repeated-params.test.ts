import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WsTicketModule } from '../../lib/index.js';
import { ChatTestGateway } from '../fixtures/gateways.js';
import { CountingStore } from '../fixtures/stores.js';
import { PLATFORMS, type StartedApp, startOn, ticketFor } from '../support/app.js';
import { RawEngineIo } from '../support/engine-io.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { ConnectionLog, EchoWsGateway, ticketModule } from '../ws/fixtures/gateways.js';
import { closeWs, openWs, type StartedWsApp, startWsApp } from '../ws/fixtures/ws-app.js';

/**
 * A parser that keeps the first or the last of repeated keys would let a client pick one of two
 * tickets: a ticket source holding more than one is refused before the store is asked. `true`: the
 * same ticket twice.
 */
const REPEATS = [
  ['two different tickets', false],
  ['the same ticket twice', true],
] as const;

/** Bounds every wait of a test (fetch and socket helpers have no bound of their own). */
const BOUNDED = { timeout: 15_000 };

for (const platform of PLATFORMS) {
  const start = startOn(platform);

  describe(`Repeated ticket query parameters (Socket.IO) [${platform}]`, () => {
    const store = new CountingStore();
    let started: StartedApp;
    const ticket = () => ticketFor(started.url, signJwt({ sub: '1' }));

    before(async () => {
      started = await start({
        imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, store })],
        providers: [ChatTestGateway],
      });
    });
    after(() => started.close());

    for (const [label, twice] of REPEATS) {
      it(
        `refuses ?uuid= carrying ${label} with ticket_malformed and never takes from the store`,
        BOUNDED,
        async () => {
          const a = await ticket();
          const b = twice ? a : await ticket();
          const takes = store.takes.length;
          const raw = await RawEngineIo.open(started.url, `&uuid=${a}&uuid=${b}`);
          try {
            assert.deepEqual(await raw.connect('/chat'), { ok: false, code: 'ticket_malformed' });
          } finally {
            raw.close();
          }
          assert.equal(store.takes.length, takes);
        },
      );
    }

    it('accepts a single ?uuid=', BOUNDED, async () => {
      const uuid = await ticket();
      const takes = store.takes.length;
      const raw = await RawEngineIo.open(started.url, `&uuid=${uuid}`);
      try {
        assert.equal((await raw.connect('/chat')).ok, true);
      } finally {
        raw.close();
      }
      assert.equal(store.takes.length, takes + 1);
    });
  });

  describe(`Repeated ticket parameters (raw ws) [${platform}]`, () => {
    const store = new CountingStore();
    let server: StartedWsApp;
    const ticket = () => ticketFor(server.url, signJwt({ sub: 'alice' }));
    const chat = (query = '') => `${server.wsUrl}/ws${query}`;

    before(async () => {
      server = await startWsApp(
        { imports: [ticketModule({ store })], providers: [EchoWsGateway, ConnectionLog] },
        { platform },
      );
    });
    after(() => server.close());

    for (const [label, twice] of REPEATS) {
      it(
        `answers ?uuid= carrying ${label} with 401 ticket_malformed and never takes from the store`,
        BOUNDED,
        async () => {
          const a = await ticket();
          const b = twice ? a : await ticket();
          const takes = store.takes.length;
          const outcome = await openWs(chat(`?uuid=${a}&uuid=${b}`));
          assert.equal(!outcome.ok && outcome.status, 401);
          assert.equal(!outcome.ok && outcome.code, 'ticket_malformed');
          assert.equal(store.takes.length, takes);
        },
      );
    }

    it(
      'answers two ws-ticket subprotocol entries with 401 ticket_malformed and never takes from the store',
      BOUNDED,
      async () => {
        const [a, b] = [await ticket(), await ticket()];
        const takes = store.takes.length;
        const outcome = await openWs(chat(), ['ws-ticket', `ws-ticket.${a}`, `ws-ticket.${b}`]);
        assert.equal(!outcome.ok && outcome.status, 401);
        assert.equal(!outcome.ok && outcome.code, 'ticket_malformed');
        assert.equal(store.takes.length, takes);
      },
    );

    // ws refuses a duplicated subprotocol itself (the ws client will not even send one).
    it(
      'answers the same ws-ticket subprotocol entry twice with 400 and never takes from the store',
      BOUNDED,
      async () => {
        const uuid = await ticket();
        const takes = store.takes.length;
        const outcome = await openWs(chat(), [], {
          headers: { 'Sec-WebSocket-Protocol': `ws-ticket, ws-ticket.${uuid}, ws-ticket.${uuid}` },
        });
        assert.equal(!outcome.ok && outcome.status, 400);
        assert.equal(store.takes.length, takes);
      },
    );

    it('accepts a single ?uuid=', BOUNDED, async () => {
      const takes = store.takes.length;
      const outcome = await openWs(chat(`?uuid=${await ticket()}`));
      assert.ok(outcome.ok, 'upgrade refused');
      assert.equal(store.takes.length, takes + 1);
      await closeWs(outcome.ws);
    });

    it('accepts a single ws-ticket subprotocol entry', BOUNDED, async () => {
      const takes = store.takes.length;
      const outcome = await openWs(chat(), ['ws-ticket', `ws-ticket.${await ticket()}`]);
      assert.ok(outcome.ok, 'upgrade refused');
      assert.equal(store.takes.length, takes + 1);
      await closeWs(outcome.ws);
    });
  });
}
