// Attacks on maxConnectionsPerUser (issue #19), each a real app on port 0 and real clients.
import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import {
  MemoryTicketStore,
  WsTicketModule,
  type WsTicketModuleOptions,
  WsTicketService,
} from '../../lib/index.js';
import { ChatTestGateway, NotificationsTestGateway } from '../fixtures/gateways.js';
import { type StartedApp, startApp } from '../support/app.js';
import { RawEngineIo } from '../support/engine-io.js';
import { TEST_SECRET } from '../support/jwt.js';
import { type ConnectOutcome, connect } from '../support/sockets.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The memory store, whose acquisitions can be slowed down and whose renewals are counted. */
class SlowSlotStore extends MemoryTicketStore {
  acquireDelay = 0;
  renewals = 0;

  override async acquireConnection(...args: Parameters<MemoryTicketStore['acquireConnection']>) {
    if (this.acquireDelay > 0) await sleep(this.acquireDelay);
    return super.acquireConnection(...args);
  }

  override renewConnections(...args: Parameters<MemoryTicketStore['renewConnections']>) {
    this.renewals++;
    return super.renewConnections(...args);
  }
}

interface Harness {
  started: StartedApp;
  service: WsTicketService;
  store: SlowSlotStore;
  ticket(sub: string, expiresIn?: number): Promise<string>;
  open(sub: string, namespace?: string): Promise<ConnectOutcome>;
  counts(sub: string, expected: number): Promise<void>;
}

const harnesses: Harness[] = [];
const sockets: Socket[] = [];
const raws: RawEngineIo[] = [];

async function harness(options: Partial<WsTicketModuleOptions> = {}): Promise<Harness> {
  const store = new SlowSlotStore();
  const started = await startApp({
    imports: [
      WsTicketModule.forRoot({
        jwt: { secret: TEST_SECRET },
        issueLimit: false,
        store,
        ...options,
      }),
    ],
    providers: [ChatTestGateway, NotificationsTestGateway],
  });
  const service = started.app.get(WsTicketService);
  const ticket = async (sub: string, expiresIn = 600) =>
    (await service.issue({ sub, exp: Math.floor(Date.now() / 1000) + expiresIn })).uuid;
  const made: Harness = {
    started,
    service,
    store,
    ticket,
    async open(sub, namespace = '/chat') {
      const result = await connect(`${started.url}${namespace}`, {
        auth: { uuid: await ticket(sub) },
      });
      if (result.ok) sockets.push(result.socket);
      return result;
    },
    async counts(sub, expected) {
      const deadline = Date.now() + 3000;
      let count = await service.connectionCount(sub);
      while (count !== expected && Date.now() < deadline) {
        await sleep(20);
        count = await service.connectionCount(sub);
      }
      assert.equal(count, expected, `connections of ${sub}`);
    },
  };
  harnesses.push(made);
  return made;
}

async function rawEngine(url: string): Promise<RawEngineIo> {
  const raw = await RawEngineIo.open(url);
  raws.push(raw);
  return raw;
}

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  for (const raw of raws.splice(0)) raw.close();
  await Promise.all(harnesses.splice(0).map((h) => h.started.close()));
});

after(() => {
  for (const socket of sockets.splice(0)) socket.close();
});

describe('maxConnectionsPerUser under attack (Socket.IO)', () => {
  it('gives the slot back when the session ends on a transport that left its namespaces', async () => {
    // A stolen (or the user's own) ticket with a 2 s session: connect, leave the namespace, keep
    // the engine.io transport open. The session ends, nothing closes the transport.
    const h = await harness({ maxConnectionsPerUser: 1, connectionLease: 3 });
    const raw = await rawEngine(h.started.url);
    const answer = await raw.connect('/chat', { uuid: await h.ticket('alice', 2) });
    assert.ok(answer.ok);
    raw.leave('/chat');
    await h.counts('alice', 1);
    // Well past the session's end, and past two leases (renewed by this instance).
    await sleep(7000);
    await h.counts('alice', 0);
    assert.ok((await h.open('alice')).ok, 'alice can connect again once her session ended');
  });

  it("'close-oldest' evicting a user's connection leaves another user's namespace on the same transport alone", async () => {
    const h = await harness({ maxConnectionsPerUser: 1, onConnectionLimit: 'close-oldest' });
    const raw = await rawEngine(h.started.url);
    assert.ok((await raw.connect('/chat', { uuid: await h.ticket('bob') })).ok);
    assert.ok((await raw.connect('/notifications', { uuid: await h.ticket('alice') })).ok);
    const newest = await h.open('alice');
    assert.ok(newest.ok, "alice's new connection is accepted");
    // Alice's namespace socket on the old transport is told why…
    await raw.until((p) => p.startsWith('42/notifications,["unauthorized"'));
    await sleep(300);
    // …and bob, who is under his own cap and is told nothing, is not closed with it: alice's
    // eviction closes the whole transport (evict(): expel + connection.close()).
    assert.equal(raw.closed, false, "bob's /chat socket was closed by alice's eviction");
    await h.counts('bob', 1);
  });

  it("disconnectUser gives back a slot squatted on another user's transport (stolen ticket)", async () => {
    // Mallory holds one of alice's tickets. She enters /notifications with it on her own
    // transport (mallory in /chat), leaves /notifications, and keeps the transport open.
    const h = await harness({ maxConnectionsPerUser: 1 });
    const raw = await rawEngine(h.started.url);
    assert.ok((await raw.connect('/chat', { uuid: await h.ticket('mallory') })).ok);
    assert.ok((await raw.connect('/notifications', { uuid: await h.ticket('alice') })).ok);
    // Leaving her last namespace on that transport gives alice's slot back at once.
    raw.leave('/notifications');
    await h.counts('alice', 0);
    assert.ok((await h.open('alice')).ok, 'alice can connect while the transport stays open');
    await h.counts('alice', 1);
  });

  it("disconnectUser on a transport shared with another user frees the user's slot and leaves the other user's namespace open", async () => {
    const h = await harness({ maxConnectionsPerUser: 1 });
    const raw = await rawEngine(h.started.url);
    assert.ok((await raw.connect('/chat', { uuid: await h.ticket('mallory') })).ok);
    assert.ok((await raw.connect('/notifications', { uuid: await h.ticket('alice') })).ok);
    await h.counts('alice', 1);
    const from = raw.packets.length;
    await h.service.disconnectUser('alice');
    await raw.until((packet) => packet === '41/notifications,', from);
    await h.counts('alice', 0);
    assert.ok((await h.open('alice')).ok, 'alice can connect after her revocation');
    // mallory's /chat on the same transport was not closed with it.
    raw.send('42/chat,3["whoami"]');
    assert.match(String(await raw.until((p) => p.startsWith('43/chat,3'), from)), /mallory/);
    await h.counts('mallory', 1);
  });

  it("'close-oldest': a handshake whose acquisition timed out (refused) evicts no one", async () => {
    const h = await harness({
      maxConnectionsPerUser: 1,
      onConnectionLimit: 'close-oldest',
      storeTimeout: 200,
      connectionLease: 1,
    });
    const first = await h.open('alice');
    assert.ok(first.ok);
    let closedWith: string | undefined;
    first.socket.on('unauthorized', (payload: { code: string }) => {
      closedWith = payload.code;
    });
    // The store answers late (a Redis stall longer than storeTimeout): the handshake is refused…
    h.store.acquireDelay = 500;
    const late = await h.open('alice');
    assert.equal(!late.ok && late.code, 'store_unavailable');
    h.store.acquireDelay = 0;
    // …and its late acquisition must not have taken the oldest connection's slot away.
    await sleep(1500);
    assert.equal(closedWith, undefined, 'the refused handshake evicted the open connection');
    assert.ok(first.socket.connected);
    await h.counts('alice', 1);
  });

  it('renews every third of the longest connectionLease, not in a tight loop, and refuses a longer one at startup', async () => {
    // A day is the longest lease: a third of it fits a timer (Node runs longer delays at once).
    const h = await harness({ maxConnectionsPerUser: 2, connectionLease: 86_400 });
    assert.ok((await h.open('alice')).ok);
    await sleep(500);
    assert.equal(h.store.renewals, 0, 'renewals within 0.5 s of a one-day lease');
    // 10^7 s (~116 days) would overflow the renewal timer into a 1 ms loop.
    await assert.rejects(
      harness({ connectionLease: 1e7 }),
      /`connectionLease` must be from 1 to 86400 seconds/,
    );
  });
});
