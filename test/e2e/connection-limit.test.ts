import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import { Manager, type Socket } from 'socket.io-client';
import type { WsTicketModuleOptions } from '../../lib/index.js';
import { type CapHarness, CapHarnesses } from '../fixtures/connection-cap.js';
import { ask, connect, connected, next } from '../support/sockets.js';
import { withDeadline } from '../support/stop-child.js';

const cap = new CapHarnesses();
const harness = (options?: Partial<WsTicketModuleOptions>) => cap.start(options);
type Harness = CapHarness;

async function openAll(h: Harness, sub: string, n: number): Promise<Socket[]> {
  const opened: Socket[] = [];
  for (let i = 0; i < n; i++) {
    const result = await h.open(sub);
    assert.ok(result.ok, `connection ${i + 1} of ${sub} accepted`);
    opened.push(result.socket);
  }
  return opened;
}

/** The `unauthorized` code and the disconnect reason a socket gets when the server closes it. */
function closure(socket: Socket): Promise<{ code: string | undefined; reason: string }> {
  let code: string | undefined;
  socket.once('unauthorized', (payload: { code: string }) => {
    code = payload.code;
  });
  const closed = new Promise<{ code: string | undefined; reason: string }>((resolve) =>
    socket.once('disconnect', (reason) => resolve({ code, reason })),
  );
  return withDeadline(closed, 15_000, 'the server closing the socket');
}

afterEach(() => cap.closeAll());

describe('maxConnectionsPerUser on Socket.IO', () => {
  it("refuses the cap + 1-th handshake with connection_limit, spends its ticket, and leaves the user's others alone", async () => {
    const h = await harness({ maxConnectionsPerUser: 3 });
    const open = await openAll(h, 'alice', 3);
    const uuid = await h.ticket('alice');
    const refused = await connect(`${h.started.url}/chat`, { auth: { uuid } });
    assert.deepEqual(refused.ok ? 'accepted' : [refused.code, refused.message], [
      'connection_limit',
      'connection_limit',
    ]);
    await h.counts('alice', 3);
    for (const socket of open) {
      assert.ok(socket.connected);
      assert.equal(((await ask(socket, 'whoami')) as { sub: string }).sub, 'alice');
    }
    // Single use holds for refusals: with a slot free again, the same ticket is spent.
    open[0].disconnect();
    await h.counts('alice', 2);
    const again = await connect(`${h.started.url}/chat`, { auth: { uuid } });
    assert.equal(!again.ok && again.code, 'ticket_invalid');
  });

  it('gives a slot back as soon as a socket closes', async () => {
    const h = await harness({ maxConnectionsPerUser: 2, connectionLease: 600 });
    const [first] = await openAll(h, 'alice', 2);
    assert.equal((await h.open('alice')).ok, false);
    first.disconnect();
    // Long before any lease could run out: the close itself gave it back.
    await h.counts('alice', 1);
    assert.ok((await h.open('alice')).ok);
  });

  it('counts a connection multiplexing three namespaces once', async () => {
    const h = await harness({ maxConnectionsPerUser: 2 });
    const manager = new Manager(h.started.url, { transports: ['websocket'], reconnection: false });
    const uuid = await h.ticket('alice');
    const namespaces = ['/', '/chat', '/notifications'].map((name) =>
      manager.socket(name, { auth: { uuid } }),
    );
    cap.track(...namespaces);
    await Promise.all(
      namespaces.map((socket) =>
        withDeadline(
          new Promise<void>((resolve, reject) => {
            socket.once('connect', () => resolve());
            socket.once('connect_error', reject);
          }),
          15_000,
          'multiplexed connect',
        ),
      ),
    );
    await h.counts('alice', 1);
    assert.equal(h.store.calls.filter((call) => call === 'acquire').length, 1);
    assert.ok((await h.open('alice')).ok, 'a second connection fits');
    const third = await h.open('alice');
    assert.equal(!third.ok && third.code, 'connection_limit');
  });

  it('counts an attacker multiplexing namespaces with a ticket each once, in raw engine.io frames', async () => {
    const h = await harness({ maxConnectionsPerUser: 1 });
    const raw = await cap.raw(h.started.url);
    try {
      for (const namespace of ['/', '/chat', '/notifications']) {
        const answer = await raw.connect(namespace, { uuid: await h.ticket('alice') });
        assert.ok(answer.ok, `${namespace} accepted on the one connection`);
      }
      await h.counts('alice', 1);
      const other = await h.open('alice');
      assert.equal(!other.ok && other.code, 'connection_limit');
    } finally {
      raw.close();
    }
    await h.counts('alice', 0);
  });

  it("does not count one user's connections against another's", async () => {
    const h = await harness({ maxConnectionsPerUser: 2 });
    await openAll(h, 'alice', 2);
    assert.equal((await h.open('alice')).ok, false);
    await openAll(h, 'bob', 2);
    await h.counts('bob', 2);
    await h.counts('alice', 2);
  });

  it("'close-oldest' accepts the new socket and closes exactly the user's oldest one", async () => {
    const h = await harness({ maxConnectionsPerUser: 3, onConnectionLimit: 'close-oldest' });
    const [oldest, second, third] = await openAll(h, 'alice', 3);
    const bob = (await openAll(h, 'bob', 1))[0];
    const closed = closure(oldest);
    const newest = await h.open('alice');
    assert.ok(newest.ok, 'the new socket is accepted');
    assert.deepEqual(await closed, { code: 'connection_limit', reason: 'io server disconnect' });
    for (const socket of [second, third, newest.socket, bob]) assert.ok(socket.connected);
    await h.counts('alice', 3);
    // And again: the next oldest goes next.
    const closedNext = closure(second);
    assert.ok((await h.open('alice')).ok);
    assert.equal((await closedNext).code, 'connection_limit');
    assert.ok(third.connected);
  });

  it("'close-oldest' tells every namespace socket of the evicted connection why", async () => {
    const h = await harness({ maxConnectionsPerUser: 1, onConnectionLimit: 'close-oldest' });
    const manager = new Manager(h.started.url, { transports: ['websocket'], reconnection: false });
    const uuid = await h.ticket('alice');
    const chat = manager.socket('/chat', { auth: { uuid } });
    const notifications = manager.socket('/notifications', { auth: { uuid } });
    cap.track(chat, notifications);
    await Promise.all([next(chat, 'connect'), next(notifications, 'connect')]);
    const closed = [closure(chat), closure(notifications)];
    assert.ok((await h.open('alice')).ok);
    assert.deepEqual(
      (await Promise.all(closed)).map((c) => c.code),
      ['connection_limit', 'connection_limit'],
    );
    await h.counts('alice', 1);
  });

  it("'close-oldest' leaves another user's namespaces on the evicted connection open, and takes a new slot to let the user back in", async () => {
    const h = await harness({ maxConnectionsPerUser: 1, onConnectionLimit: 'close-oldest' });
    const raw = await cap.raw(h.started.url);
    try {
      assert.ok((await raw.connect('/chat', { uuid: await h.ticket('alice') })).ok);
      assert.ok((await raw.connect('/notifications', { uuid: await h.ticket('bob') })).ok);
      const from = raw.packets.length;
      const newer = await h.open('alice');
      assert.ok(newer.ok);
      // alice's /chat socket on the raw connection is told why and leaves it…
      await raw.until((packet) => packet.startsWith('42/chat,["unauthorized"'), from);
      await raw.until((packet) => packet === '41/chat,', from);
      // …while bob's namespace on the same connection still answers.
      raw.send('42/notifications,7["whoami"]');
      const answer = await raw.until((packet) => packet.startsWith('43/notifications,7'), from);
      assert.match(String(answer), /"sub":"bob"/);
      await h.counts('bob', 1);
      // Back in on that connection: a new slot, which evicts the newer connection in turn.
      const evicted = closure(newer.socket);
      assert.ok((await raw.connect('/chat', { uuid: await h.ticket('alice') })).ok);
      assert.equal((await evicted).code, 'connection_limit');
      await h.counts('alice', 1);
    } finally {
      raw.close();
    }
  });

  it('gives the slots back when the user is disconnected or the session ends', async () => {
    const h = await harness({ maxConnectionsPerUser: 2 });
    const revoked = await openAll(h, 'alice', 2);
    const closed = revoked.map(closure);
    await h.service.disconnectUser('alice');
    await Promise.all(closed);
    await h.counts('alice', 0);
    // A session that ends closes its socket, which frees its slot.
    const short = await connected(`${h.started.url}/chat`, {
      auth: { uuid: await h.ticket('alice', 2) },
    });
    cap.track(short);
    await h.counts('alice', 1);
    assert.equal((await closure(short)).code, 'session_expired');
    await h.counts('alice', 0);
  });

  it('renews the slots of open sockets, and closes one whose slot another instance evicted', async () => {
    const h = await harness({ maxConnectionsPerUser: 2, connectionLease: 1 });
    const [first, second] = await openAll(h, 'alice', 2);
    // Three leases later both still count: this instance renewed them.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await h.counts('alice', 2);
    assert.ok(h.store.calls.includes('renew'));
    // Another instance's 'close-oldest' handshake, straight on the shared store.
    const closed = closure(first);
    const key = `ws-ticket:conn:${createHash('sha256').update('alice').digest('hex')}`;
    const slot = await h.store.acquireConnection(key, 'other-instance.0', 2, 1000, true);
    assert.equal(slot.evicted.length, 1);
    assert.deepEqual(await closed, { code: 'connection_limit', reason: 'io server disconnect' });
    assert.ok(second.connected);
  });

  it('makes no store call for it when switched off, and connectionCount() says why it cannot count', async () => {
    const h = await harness({ maxConnectionsPerUser: false });
    await openAll(h, 'alice', 60);
    assert.deepEqual(h.store.calls, []);
    await assert.rejects(h.service.connectionCount('alice'), /maxConnectionsPerUser/);
  });

  it('holds a slot per connection by default (50), not per namespace or ticket', async () => {
    const h = await harness();
    assert.equal(h.service.maxConnectionsPerUser, 50);
    await openAll(h, 'alice', 50);
    const refused = await h.open('alice');
    assert.equal(!refused.ok && refused.code, 'connection_limit');
  });
});
