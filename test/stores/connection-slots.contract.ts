import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import type { TicketStore } from '../../lib/index.js';

/** Long enough never to run out during a test. */
const LONG = 60_000;
/** Short enough to sleep past, long enough for margins of 80 ms on either side of a lease's end. */
const SHORT = 400;
const PAST_SHORT = 550;
/** Sleeping this twice passes the end of a first lease and stays within a lease renewed between. */
const MOST_OF_SHORT = SHORT * 0.6;

/**
 * The connection-slot part of the `TicketStore` contract (`maxConnectionsPerUser`), for any
 * implementation. Call inside a `describe`; `store()` returns the store under test.
 */
export function connectionSlotsContract(store: () => TicketStore): void {
  const key = () => `ws-ticket:slots-${randomUUID()}`;
  const acquire = (k: string, id: string, limit: number, lease = LONG, evictOldest = false) =>
    store().acquireConnection(k, id, limit, lease, evictOldest);
  const evict = (k: string, id: string, limit: number, lease = LONG) =>
    acquire(k, id, limit, lease, true);
  const renew = (k: string, ids: string[], limit: number, lease = LONG) =>
    store().renewConnections(k, ids, limit, lease);
  const count = (k: string) => store().countConnections(k);

  it('counts no connection in a set never used', async () => {
    assert.equal(await count(key()), 0);
  });

  it('gives slots up to the limit, then refuses without changing the set', async () => {
    const k = key();
    for (const id of ['a', 'b', 'c']) {
      assert.deepEqual(await acquire(k, id, 3), { acquired: true, evicted: [] });
    }
    assert.deepEqual(await acquire(k, 'd', 3), { acquired: false, evicted: [] });
    assert.equal(await count(k), 3);
    assert.deepEqual(await renew(k, ['a', 'b', 'c'], 3), []);
    assert.deepEqual(await renew(k, ['d'], 3), ['d'], 'd was never given a slot');
  });

  it('acquires again a slot its id holds, without taking another or evicting anyone', async () => {
    const k = key();
    await acquire(k, 'a', 2);
    await acquire(k, 'b', 2);
    assert.deepEqual(await acquire(k, 'a', 2), { acquired: true, evicted: [] });
    assert.deepEqual(await evict(k, 'a', 2), { acquired: true, evicted: [] });
    assert.equal(await count(k), 2);
  });

  it('frees a released slot at once; releasing twice or an unknown id is harmless', async () => {
    const k = key();
    await acquire(k, 'a', 1);
    assert.equal((await acquire(k, 'b', 1)).acquired, false);
    await store().releaseConnection(k, 'a');
    assert.equal(await count(k), 0);
    assert.equal((await acquire(k, 'b', 1)).acquired, true);
    await store().releaseConnection(k, 'a');
    await store().releaseConnection(k, 'unknown');
    await store().releaseConnection(key(), 'a');
    assert.equal(await count(k), 1);
    assert.deepEqual(await renew(k, ['b'], 1), []);
  });

  it('evicts exactly the oldest connection to make room, and stays at the limit', async () => {
    const k = key();
    for (const id of ['a', 'b', 'c']) await evict(k, id, 3);
    assert.deepEqual(await evict(k, 'd', 3), { acquired: true, evicted: ['a'] });
    assert.equal(await count(k), 3);
    assert.deepEqual(await evict(k, 'e', 3), { acquired: true, evicted: ['b'] });
    assert.equal(await count(k), 3);
    assert.deepEqual(await renew(k, ['c', 'd', 'e'], 3), []);
  });

  it('ages a connection from its first acquisition, not from its last', async () => {
    const k = key();
    for (const id of ['a', 'b', 'c']) await acquire(k, id, 3);
    await acquire(k, 'a', 3);
    await renew(k, ['a'], 3);
    assert.deepEqual((await evict(k, 'd', 3)).evicted, ['a']);
  });

  it('evicts several, oldest first, when the limit was lowered between calls', async () => {
    const k = key();
    for (const id of ['a', 'b', 'c', 'd']) await acquire(k, id, 4);
    assert.deepEqual(await evict(k, 'e', 2), { acquired: true, evicted: ['a', 'b', 'c'] });
    assert.equal(await count(k), 2);
    assert.deepEqual(await renew(k, ['a', 'b', 'c', 'd', 'e'], 2), ['a', 'b', 'c']);
  });

  it('refuses without evicting when the limit was lowered and evictOldest is off', async () => {
    const k = key();
    for (const id of ['a', 'b', 'c']) await acquire(k, id, 3);
    assert.deepEqual(await acquire(k, 'd', 1), { acquired: false, evicted: [] });
    assert.equal(await count(k), 3);
  });

  it('tells an evicted id at its next renewal, once; then it is a stranger needing room', async () => {
    const k = key();
    await acquire(k, 'a', 2);
    await acquire(k, 'b', 2);
    await evict(k, 'c', 2);
    assert.equal(await count(k), 2, 'the evicted slot is not counted');
    assert.deepEqual(await renew(k, ['a', 'b'], 2), ['a']);
    // Forgotten once reported: with no room it is lost again, as a run-out slot would be…
    assert.deepEqual(await renew(k, ['a'], 2), ['a']);
    assert.equal(await count(k), 2);
    // …and with room it takes a slot again.
    await store().releaseConnection(k, 'c');
    assert.deepEqual(await renew(k, ['a'], 2), []);
    assert.equal(await count(k), 2);
  });

  it('keeps an evicted id evicted even when room frees up before it renews', async () => {
    const k = key();
    await acquire(k, 'a', 1);
    await evict(k, 'b', 1);
    await store().releaseConnection(k, 'b');
    assert.deepEqual(await renew(k, ['a'], 1), ['a']);
    assert.equal(await count(k), 0);
  });

  it('keeps the eviction mark through a refused acquisition of the evicted id', async () => {
    const k = key();
    await acquire(k, 'a', 1);
    await evict(k, 'b', 1);
    assert.deepEqual(await acquire(k, 'a', 1), { acquired: false, evicted: [] });
    await store().releaseConnection(k, 'b');
    assert.deepEqual(await renew(k, ['a'], 1), ['a']);
  });

  it('cancels an unanswered acquisition: its slot goes back to the one it evicted, which is not told', async () => {
    const k = key();
    await acquire(k, 'a', 2);
    await acquire(k, 'b', 2);
    assert.deepEqual(await evict(k, 'c', 2), { acquired: true, evicted: ['a'] });
    await store().cancelConnection(k, 'c');
    assert.equal(await count(k), 2);
    assert.deepEqual(await renew(k, ['a', 'b'], 2), [], 'a keeps its slot, unaware');
    // a is still the oldest: the next eviction takes it.
    assert.deepEqual(await evict(k, 'd', 2), { acquired: true, evicted: ['a'] });
    // Cancelling twice, or an id never seen, changes nothing.
    await store().cancelConnection(k, 'c');
    await store().cancelConnection(k, 'nobody');
    assert.equal(await count(k), 2);
  });

  it('cancels without restoring anyone when the cancelled id was evicted meanwhile', async () => {
    const k = key();
    await acquire(k, 'a', 1);
    assert.deepEqual(await evict(k, 'b', 1), { acquired: true, evicted: ['a'] });
    assert.deepEqual(await evict(k, 'c', 1), { acquired: true, evicted: ['b'] });
    await store().cancelConnection(k, 'b');
    assert.equal(await count(k), 1, 'a stays evicted: c holds the only slot');
    assert.deepEqual(await renew(k, ['a', 'c'], 1), ['a']);
  });

  it('cancels like a release an acquisition that evicted no one', async () => {
    const k = key();
    await acquire(k, 'a', 2);
    await store().cancelConnection(k, 'a');
    assert.equal(await count(k), 0);
  });

  it('forgets the eviction of a released id', async () => {
    const k = key();
    await acquire(k, 'a', 1);
    await evict(k, 'b', 1);
    await store().releaseConnection(k, 'a');
    await store().releaseConnection(k, 'b');
    assert.deepEqual(await renew(k, ['a'], 1), []);
    assert.equal(await count(k), 1);
  });

  it('forgets an eviction once the evicted lease would have ended', async () => {
    const k = key();
    await acquire(k, 'a', 2, SHORT);
    await acquire(k, 'b', 2);
    await evict(k, 'c', 2);
    await store().releaseConnection(k, 'b');
    await sleep(PAST_SHORT);
    assert.deepEqual(await renew(k, ['a'], 2), [], 'a stranger again, with room');
    assert.equal(await count(k), 2);
  });

  it('extends a lease at renewal past its first end', async () => {
    const k = key();
    await acquire(k, 'a', 1, SHORT);
    await sleep(MOST_OF_SHORT);
    assert.deepEqual(await renew(k, ['a'], 1, SHORT), []);
    await sleep(MOST_OF_SHORT);
    assert.equal(await count(k), 1);
    assert.equal((await acquire(k, 'b', 1)).acquired, false);
    await sleep(SHORT);
    assert.equal(await count(k), 0);
  });

  it('extends a lease at re-acquisition', async () => {
    const k = key();
    await acquire(k, 'a', 1, SHORT);
    await sleep(MOST_OF_SHORT);
    await acquire(k, 'a', 1, SHORT);
    await sleep(MOST_OF_SHORT);
    assert.equal(await count(k), 1);
  });

  it('frees the place of a run-out slot; renewal takes it again only if there is room', async () => {
    const k = key();
    await acquire(k, 'a', 1, SHORT);
    await sleep(PAST_SHORT);
    assert.equal(await count(k), 0);
    assert.deepEqual(await acquire(k, 'b', 1), { acquired: true, evicted: [] });
    assert.deepEqual(await renew(k, ['a'], 1), ['a']);
    await store().releaseConnection(k, 'b');
    assert.deepEqual(await renew(k, ['a'], 1), []);
    assert.equal(await count(k), 1);
    assert.equal((await acquire(k, 'b', 1)).acquired, false);
  });

  it('renews a run-out slot as the newest connection', async () => {
    const k = key();
    await acquire(k, 'a', 2, SHORT);
    await acquire(k, 'b', 2);
    await sleep(PAST_SHORT);
    assert.deepEqual(await renew(k, ['a'], 2), []);
    assert.deepEqual((await evict(k, 'c', 2)).evicted, ['b']);
  });

  it('renews in order: a run-out id takes the last free slot before the next one', async () => {
    const k = key();
    await acquire(k, 'a', 2);
    assert.deepEqual(await renew(k, ['x', 'y', 'a'], 2), ['y']);
    assert.equal(await count(k), 2);
  });

  it('keeps the sets of different keys apart', async () => {
    const [k1, k2] = [key(), key()];
    await acquire(k1, 'a', 1);
    assert.deepEqual(await acquire(k2, 'a', 1), { acquired: true, evicted: [] });
    assert.equal((await acquire(k2, 'b', 1)).acquired, false);
    await store().releaseConnection(k1, 'a');
    assert.equal(await count(k1), 0);
    assert.equal(await count(k2), 1);
  });

  it('gives exactly limit slots to 50 concurrent acquisitions', async () => {
    const k = key();
    const ids = Array.from({ length: 50 }, (_, i) => `c${i}`);
    const slots = await Promise.all(ids.map((id) => acquire(k, id, 10)));
    assert.equal(slots.filter((slot) => slot.acquired).length, 10);
    assert.ok(slots.every((slot) => slot.evicted.length === 0));
    assert.equal(await count(k), 10);
  });

  it('evicts each connection once among 50 concurrent acquisitions with evictOldest', async () => {
    const k = key();
    const ids = Array.from({ length: 50 }, (_, i) => `c${i}`);
    const slots = await Promise.all(ids.map((id) => evict(k, id, 10)));
    assert.ok(slots.every((slot) => slot.acquired));
    const evicted = slots.flatMap((slot) => slot.evicted);
    assert.equal(evicted.length, 40);
    assert.equal(new Set(evicted).size, 40);
    assert.equal(await count(k), 10);
    const kept = ids.filter((id) => !evicted.includes(id));
    assert.deepEqual(await renew(k, kept, 10), []);
  });

  it('matches a model of the slots over random operations, never above the limit', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.array(operation, { maxLength: 40, size: 'max' }),
        async (limit, ops) => {
          const k = key();
          const model = new SlotModel();
          for (const op of ops) {
            switch (op.kind) {
              case 'acquire':
                assert.deepEqual(
                  await acquire(k, op.id, limit, LONG, op.evictOldest),
                  model.acquire(op.id, limit, op.evictOldest),
                );
                break;
              case 'renew':
                assert.deepEqual(await renew(k, op.ids, limit), model.renew(op.ids, limit));
                break;
              case 'release':
                await store().releaseConnection(k, op.id);
                model.release(op.id);
                break;
            }
            const held = await count(k);
            assert.equal(held, model.live.length);
            assert.ok(held <= limit, `${held} slots held, limit ${limit}`);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
}

const id = fc.constantFrom('a', 'b', 'c', 'd');
const operation = fc.oneof(
  fc.record({ kind: fc.constant('acquire' as const), id, evictOldest: fc.boolean() }),
  fc.record({ kind: fc.constant('renew' as const), ids: fc.array(id, { maxLength: 4 }) }),
  fc.record({ kind: fc.constant('release' as const), id }),
);

/** The contract with no time: live ids oldest first, and the evicted ids not yet told. */
class SlotModel {
  live: string[] = [];
  readonly evicted = new Set<string>();

  acquire(id: string, limit: number, evictOldest: boolean) {
    if (this.live.includes(id)) return { acquired: true, evicted: [] };
    const evicted: string[] = [];
    if (this.live.length >= limit) {
      if (!evictOldest) return { acquired: false, evicted };
      evicted.push(...this.live.splice(0, this.live.length - limit + 1));
      for (const out of evicted) this.evicted.add(out);
    }
    this.evicted.delete(id);
    this.live.push(id);
    return { acquired: true, evicted };
  }

  renew(ids: string[], limit: number): string[] {
    const lost: string[] = [];
    for (const id of ids) {
      if (this.evicted.delete(id)) lost.push(id);
      else if (this.live.includes(id)) continue;
      else if (this.live.length < limit) this.live.push(id);
      else lost.push(id);
    }
    return lost;
  }

  release(id: string): void {
    this.live = this.live.filter((held) => held !== id);
    this.evicted.delete(id);
  }
}
