import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SessionTimeline } from '../../lib/session/session-timeline.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('SessionTimeline: every session moment under one timer', () => {
  it('fires exactly the entries not removed, in the order of their moments, and ends empty with no timer', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ delay: fc.integer({ min: 0, max: 40 }), drop: fc.boolean() }), {
          maxLength: 60,
        }),
        async (plan) => {
          const timeline = new SessionTimeline();
          const before = timers();
          const start = Date.now();
          const fired: { at: number; i: number }[] = [];
          const entries = plan.map(({ delay }, i) => {
            const at = start + delay;
            return timeline.add(at, () => fired.push({ at, i }));
          });
          assert.ok(timers() <= before + 1, 'one timer at most');
          for (const [i, { drop }] of plan.entries()) if (drop) timeline.remove(entries[i]);
          // Removing twice, or after it fired, changes nothing.
          for (const [i, { drop }] of plan.entries()) if (drop) timeline.remove(entries[i]);
          await sleep(60);
          assert.deepEqual(
            fired.map(({ i }) => i).sort((x, y) => x - y),
            plan.flatMap(({ drop }, i) => (drop ? [] : [i])),
          );
          for (let k = 1; k < fired.length; k++) assert.ok(fired[k - 1].at <= fired[k].at);
          assert.equal(timeline.size, 0);
          assert.equal(timers(), before);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('keeps 20,000 pending entries under one timer, and nothing once they are removed', () => {
    const timeline = new SessionTimeline();
    const before = timers();
    const far = Date.now() + 3_600_000;
    const entries = Array.from({ length: 20_000 }, (_, i) => timeline.add(far + i, () => {}));
    assert.equal(timeline.size, 20_000);
    assert.equal(timers(), before + 1);
    for (const entry of entries.reverse()) timeline.remove(entry);
    assert.equal(timeline.size, 0);
    assert.equal(timers(), before);
  });

  it('runs the other entries when one throws, and lets the throw out as uncaught', async () => {
    const timeline = new SessionTimeline();
    const caught: unknown[] = [];
    const listener = (error: unknown) => caught.push(error);
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', listener);
    try {
      const ran: number[] = [];
      const at = Date.now() + 5;
      timeline.add(at, () => ran.push(1));
      timeline.add(at, () => {
        throw new Error('hook failed');
      });
      timeline.add(at + 1, () => ran.push(3));
      await sleep(40);
      assert.deepEqual(ran, [1, 3]);
      assert.equal((caught[0] as Error)?.message, 'hook failed');
    } finally {
      process.off('uncaughtException', listener);
      for (const other of listeners) process.on('uncaughtException', other);
    }
  });
});
