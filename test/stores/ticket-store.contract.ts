import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { it } from 'node:test';
import type { TicketStore } from '../../lib/index.js';

/**
 * The `TicketStore` contract, for any implementation. Call inside a `describe`; `store()` returns
 * the store under test (created in the caller's `before`).
 */
export function ticketStoreContract(store: () => TicketStore): void {
  const key = () => `ws-ticket:contract-${randomUUID()}`;

  it('returns a stored value once, then nothing', async () => {
    const k = key();
    await store().put(k, 'value', 10_000);
    assert.equal(await store().take(k), 'value');
    assert.equal(await store().take(k), undefined);
  });

  it('returns nothing for an unknown key', async () => {
    assert.equal(await store().take(key()), undefined);
  });

  it('gives a value to exactly one of 50 concurrent takes', async () => {
    const k = key();
    await store().put(k, 'once', 10_000);
    const results = await Promise.all(Array.from({ length: 50 }, () => store().take(k)));
    assert.deepEqual(
      results.filter((value) => value !== undefined),
      ['once'],
    );
  });

  it('keeps concurrent tickets apart', async () => {
    const keys = Array.from({ length: 20 }, key);
    await Promise.all(keys.map((k, i) => store().put(k, `value-${i}`, 10_000)));
    const values = await Promise.all(keys.map((k) => store().take(k)));
    assert.deepEqual(
      values,
      keys.map((_, i) => `value-${i}`),
    );
  });

  it('returns nothing once the ttl has passed', async () => {
    const k = key();
    await store().put(k, 'short', 30);
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.equal(await store().take(k), undefined);
  });

  it("deletes an owner's live tickets, counts them, and leaves other owners' alone", async () => {
    const [alice, bob] = [key(), key()];
    const [a1, a2, a3, b1] = [key(), key(), key(), key()];
    await store().put(a1, 'a1', 10_000, alice);
    await store().put(a2, 'a2', 10_000, alice);
    await store().put(a3, 'a3', 10_000, alice);
    await store().put(b1, 'b1', 10_000, bob);
    assert.equal(await store().take(a1), 'a1');
    assert.equal(await store().revokeOwner(alice), 2);
    assert.equal(await store().take(a2), undefined);
    assert.equal(await store().take(a3), undefined);
    assert.equal(await store().take(b1), 'b1');
    assert.equal(await store().revokeOwner(alice), 0);
  });

  it('counts increments within a window, from its first increment', async () => {
    const k = key();
    const first = await store().increment(k, 10_000);
    const second = await store().increment(k, 10_000);
    assert.equal(first.count, 1);
    assert.equal(second.count, 2);
    assert.ok(first.resetIn > 0 && first.resetIn <= 10_000, `resetIn ${first.resetIn}`);
    assert.ok(second.resetIn <= first.resetIn, 'the window does not slide');
  });

  it('counts exactly once per increment under concurrency', async () => {
    const k = key();
    const counters = await Promise.all(
      Array.from({ length: 50 }, () => store().increment(k, 10_000)),
    );
    const counts = counters.map((counter) => counter.count);
    assert.deepEqual(
      counts.sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
  });

  it('starts a counter again once its window has passed', async () => {
    const k = key();
    await store().increment(k, 30);
    await store().increment(k, 30);
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.equal((await store().increment(k, 30)).count, 1);
  });
}
