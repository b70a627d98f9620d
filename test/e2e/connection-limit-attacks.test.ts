// Attacks on maxConnectionsPerUser (issue #19), each a real app on port 0 and real clients.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { WsTicketModuleOptions } from '../../lib/index.js';
import { CapHarnesses } from '../fixtures/connection-cap.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const cap = new CapHarnesses();
const harness = (options?: Partial<WsTicketModuleOptions>) => cap.start(options);
const rawEngine = (url: string) => cap.raw(url);

afterEach(() => cap.closeAll());

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
