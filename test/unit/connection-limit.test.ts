import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { MemoryTicketStore } from '../../lib/index.js';
import { ConnectionLimit } from '../../lib/session/connection-limit.js';
import { BoundedTicketStore } from '../../lib/stores/bounded-ticket-store.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The memory store, with acquisitions and renewals that can be slowed down or made to fail. */
class SlowStore extends MemoryTicketStore {
  acquireDelay = 0;
  renewFails = false;
  acquires = 0;
  releases: string[] = [];

  override async acquireConnection(...args: Parameters<MemoryTicketStore['acquireConnection']>) {
    this.acquires++;
    if (this.acquireDelay > 0) await sleep(this.acquireDelay);
    return super.acquireConnection(...args);
  }

  override async renewConnections(...args: Parameters<MemoryTicketStore['renewConnections']>) {
    if (this.renewFails) throw new Error('ECONNRESET');
    return super.renewConnections(...args);
  }

  override async releaseConnection(key: string, id: string) {
    this.releases.push(id);
    return super.releaseConnection(key, id);
  }
}

function setup(
  options: { max?: number; evictOldest?: boolean; lease?: number; timeout?: number } = {},
) {
  const store = new SlowStore();
  const failures: unknown[] = [];
  const tickets = new BoundedTicketStore(
    store,
    { keyPrefix: 't:', timeout: options.timeout ?? 1000, generationTtl: 60_000 },
    (error) => failures.push(error),
  );
  const announced: Array<[string, readonly string[]]> = [];
  const limit = new ConnectionLimit(
    tickets,
    {
      max: options.max ?? 2,
      evictOldest: options.evictOldest ?? false,
      lease: options.lease ?? 60_000,
    },
    (userId, ids) => announced.push([userId, ids]),
  );
  return { store, tickets, limit, announced, failures };
}

/** A connection: says `close` once. */
const connection = () => new EventEmitter();

async function eventually(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`never happened: ${what}`);
    await sleep(10);
  }
}

describe('ConnectionLimit', () => {
  it('takes one slot per connection and user, however many handshakes ask at once', async () => {
    const { limit, store } = setup();
    const shared = connection();
    const lost = () => {};
    await Promise.all([
      limit.hold('alice', shared, lost),
      limit.hold('alice', shared, lost),
      limit.hold('alice', shared, lost),
    ]);
    await limit.hold('bob', shared, lost);
    assert.equal(store.acquires, 2);
    assert.equal(await limit.count('alice'), 1);
    assert.equal(await limit.count('bob'), 1);
    shared.emit('close');
    await eventually(
      async () => (await limit.count('alice')) + (await limit.count('bob')) === 0,
      'both slots back',
    );
    assert.equal(limit.users, 0);
    limit.stop();
  });

  it('refuses over the cap with connection_limit and lets a later handshake of the connection try again', async () => {
    const { limit } = setup({ max: 1 });
    const first = connection();
    await limit.hold('alice', first, () => {});
    const second = connection();
    await assert.rejects(
      limit.hold('alice', second, () => {}),
      { code: 'connection_limit' },
    );
    first.emit('close');
    await eventually(async () => (await limit.count('alice')) === 0, 'the slot back');
    await limit.hold('alice', second, () => {});
    assert.equal(await limit.count('alice'), 1);
    limit.stop();
  });

  it('gives back a slot whose connection closed while it was being taken', async () => {
    const { limit, store } = setup();
    store.acquireDelay = 50;
    const closing = connection();
    const held = limit.hold('alice', closing, () => {});
    closing.emit('close');
    await held;
    await eventually(async () => (await limit.count('alice')) === 0, 'the slot back');
    assert.equal(limit.users, 0);
  });

  it('gives back what a timed-out acquisition may still take', async () => {
    const { limit, store, failures } = setup({ timeout: 20 });
    store.acquireDelay = 80;
    await assert.rejects(
      limit.hold('alice', connection(), () => {}),
      {
        code: 'store_unavailable',
      },
    );
    assert.equal(failures.length, 1);
    // The late script took a slot; the release sent behind it gives it back.
    await sleep(150);
    assert.equal(await limit.count('alice'), 0);
    assert.equal(limit.users, 0);
  });

  it('closes the connection a renewal reports lost, and forgets it', async () => {
    const { limit, store } = setup({ max: 1, lease: 300 });
    const codes: string[] = [];
    await limit.hold('alice', connection(), (code) => codes.push(code));
    // Another instance evicts it, straight on the store.
    const key = (
      store as unknown as { connections: { sets: Map<string, unknown> } }
    ).connections.sets
      .keys()
      .next().value as string;
    await store.acquireConnection(key, 'elsewhere.0', 1, 60_000, true);
    await eventually(() => codes.length > 0, 'the lost callback');
    assert.deepEqual(codes, ['connection_limit']);
    assert.equal(limit.users, 0);
  });

  it('keeps its slots through renewals that fail, and renews them once the store answers', async () => {
    const { limit, store } = setup({ max: 1, lease: 300 });
    const codes: string[] = [];
    await limit.hold('alice', connection(), (code) => codes.push(code));
    store.renewFails = true;
    await sleep(500);
    // The lease ran out in the store meanwhile; this process still holds the connection.
    assert.equal(limit.users, 1);
    store.renewFails = false;
    await eventually(async () => (await limit.count('alice')) === 1, 'the slot taken again');
    assert.deepEqual(codes, []);
    limit.stop();
  });

  it("with evictOldest closes this process's oldest at once and announces the others' ids", async () => {
    const { limit, store, announced } = setup({ max: 2, evictOldest: true });
    const codes: string[] = [];
    await limit.hold('alice', connection(), () => codes.push('first'));
    const key = (
      store as unknown as { connections: { sets: Map<string, unknown> } }
    ).connections.sets
      .keys()
      .next().value as string;
    await store.acquireConnection(key, 'elsewhere.0', 2, 60_000, false);
    await limit.hold('alice', connection(), () => codes.push('second'));
    assert.deepEqual(codes, ['first']);
    assert.deepEqual(announced, []);
    await limit.hold('alice', connection(), () => codes.push('third'));
    assert.deepEqual(announced, [['alice', ['elsewhere.0']]]);
    assert.deepEqual(codes, ['first']);
    limit.evicted('alice', ['nobody.9']);
    assert.deepEqual(codes, ['first']);
    limit.stop();
  });
});
