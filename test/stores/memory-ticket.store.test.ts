import assert from 'node:assert/strict';
import { after, afterEach, describe, it, mock } from 'node:test';
import { MemoryTicketStore, TicketStore, WsTicketModule } from '../../lib/index.js';
import { startApp, ticketFor } from '../support/app.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { connectionSlotsContract } from './connection-slots.contract.js';
import { ticketStoreContract } from './ticket-store.contract.js';

describe('MemoryTicketStore: the TicketStore contract', () => {
  const store = new MemoryTicketStore();
  afterEach(() => store.onApplicationShutdown());
  ticketStoreContract(() => store);
});

describe('MemoryTicketStore: the connection-slot contract', () => {
  const store = new MemoryTicketStore();
  after(() => store.onApplicationShutdown());
  connectionSlotsContract(() => store);
});

describe('MemoryTicketStore: expiry and sweeping', () => {
  afterEach(() => mock.timers.reset());

  const clock = () => mock.timers.enable({ apis: ['setInterval', 'Date'], now: 1_000_000 });

  it('does not return a ticket whose ttl has passed, and forgets it', async () => {
    clock();
    const store = new MemoryTicketStore();
    await store.put('k', 'v', 1000);
    mock.timers.tick(1000);
    assert.equal(await store.take('k'), undefined);
    assert.equal(store.size, 0);
    store.onApplicationShutdown();
  });

  it('still returns a ticket one millisecond before its ttl ends', async () => {
    clock();
    const store = new MemoryTicketStore();
    await store.put('k', 'v', 1000);
    mock.timers.tick(999);
    assert.equal(await store.take('k'), 'v');
    store.onApplicationShutdown();
  });

  it('sweeps expired tickets that nobody takes, every sweepInterval', async () => {
    clock();
    const store = new MemoryTicketStore({ sweepInterval: 1000 });
    await store.put('short', 'v', 500);
    await store.put('long', 'v', 5000);
    mock.timers.tick(1000);
    assert.equal(store.size, 1);
    mock.timers.tick(4000);
    assert.equal(store.size, 0);
    store.onApplicationShutdown();
  });

  it('stops its sweep timer once empty and restarts it on the next put', async () => {
    clock();
    const store = new MemoryTicketStore({ sweepInterval: 1000 });
    const sweep = mock.method(store, 'sweep');
    await store.put('k', 'v', 500);
    mock.timers.tick(600);
    // Swept by hand: Node 20's mock timers re-arm an interval cleared inside its own callback.
    store.sweep();
    assert.equal(store.size, 0);
    mock.timers.tick(10_000);
    assert.equal(sweep.mock.callCount(), 1);
    await store.put('k2', 'v', 500);
    mock.timers.tick(1000);
    assert.equal(sweep.mock.callCount(), 2);
    store.onApplicationShutdown();
  });

  it('clears its timer and its tickets on application shutdown', async () => {
    clock();
    const store = new MemoryTicketStore({ sweepInterval: 1000 });
    const sweep = mock.method(store, 'sweep');
    await store.put('k', 'v', 60_000);
    store.onApplicationShutdown();
    mock.timers.tick(120_000);
    assert.equal(sweep.mock.callCount(), 0);
    assert.equal(store.size, 0);
  });
});

describe('MemoryTicketStore in a Nest app', () => {
  it('is the default store and is cleared when the app closes', async () => {
    const started = await startApp({
      imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET } })],
    });
    const store = started.app.get(TicketStore, { strict: false });
    try {
      assert.ok(store instanceof MemoryTicketStore);
      await ticketFor(started.url, signJwt({ sub: '1' }));
      assert.equal(store.size, 1);
    } finally {
      await started.close();
    }
    assert.equal((store as MemoryTicketStore).size, 0);
  });
});
