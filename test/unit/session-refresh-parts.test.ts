import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WS_TICKET_REFRESH_LIMIT } from '../../lib/index.js';
import { RefreshGate, refreshTicketOf, SessionClock } from '../../lib/session/index.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A clock whose moments are recorded in order. */
function recordingClock(window: number) {
  const events: string[] = [];
  let expiring: (value: number) => void = () => undefined;
  let ended: () => void = () => undefined;
  const expiringSeen = new Promise<number>((resolve) => {
    expiring = resolve;
  });
  const endSeen = new Promise<void>((resolve) => {
    ended = resolve;
  });
  const clock = new SessionClock(window, {
    expiring: (expiresAt) => {
      events.push(`expiring:${expiresAt}`);
      expiring(expiresAt);
    },
    end: () => {
      events.push('end');
      ended();
    },
  });
  return { clock, events, expiringSeen, endSeen };
}

describe('SessionClock', () => {
  it('says expiring (with the end) before it says end, once each', async () => {
    const { clock, events, endSeen } = recordingClock(100);
    const endsAt = Date.now() + 300;
    clock.set(endsAt);
    await endSeen;
    assert.deepEqual(events, [`expiring:${endsAt}`, 'end']);
    assert.equal(clock.end, undefined);
  });

  it('moves the end on a refresh: the old end passes silently, the new one is announced again', async () => {
    const { clock, events, expiringSeen, endSeen } = recordingClock(100);
    const first = Date.now() + 250;
    clock.set(first);
    await expiringSeen;
    const second = Date.now() + 400;
    clock.set(second);
    await endSeen;
    assert.ok(Date.now() >= second, 'the end came at the new end, not the old one');
    assert.deepEqual(events, [`expiring:${first}`, `expiring:${second}`, 'end']);
  });

  it('does not announce the same end twice (a refresh that kept it)', async () => {
    const { clock, events, expiringSeen, endSeen } = recordingClock(100);
    const endsAt = Date.now() + 250;
    clock.set(endsAt);
    await expiringSeen;
    clock.set(endsAt);
    await endSeen;
    assert.deepEqual(events, [`expiring:${endsAt}`, 'end']);
  });

  it('announces a session shorter than the window halfway, not at once', async () => {
    const { clock, expiringSeen } = recordingClock(60_000);
    const setAt = Date.now();
    clock.set(setAt + 400);
    await expiringSeen;
    assert.ok(Date.now() - setAt >= 150, 'not announced at once');
    clock.stop();
  });

  it('never says expiring with a window of 0', async () => {
    const { clock, events, endSeen } = recordingClock(0);
    clock.set(Date.now() + 50);
    await endSeen;
    assert.deepEqual(events, ['end']);
  });

  it('says nothing after stop(), nor without an end', async () => {
    const { clock, events } = recordingClock(10);
    clock.set(Date.now() + 40);
    clock.stop();
    clock.set(undefined);
    await sleep(100);
    assert.deepEqual(events, []);
  });
});

describe('RefreshGate', () => {
  it(`allows ${WS_TICKET_REFRESH_LIMIT} attempts a minute, then none, and never holds more`, () => {
    const gate = new RefreshGate();
    const t0 = 1_000_000;
    for (let i = 0; i < WS_TICKET_REFRESH_LIMIT; i++) assert.equal(gate.allow(t0 + i), true);
    for (let i = 0; i < 100; i++) assert.equal(gate.allow(t0 + 100 + i), false);
    assert.equal(gate.size, WS_TICKET_REFRESH_LIMIT);
    // A minute after the first attempt, one slot is free again.
    assert.equal(gate.allow(t0 + 60_000), true);
    assert.equal(gate.allow(t0 + 60_000), false);
    assert.equal(gate.size, WS_TICKET_REFRESH_LIMIT);
  });

  it('runs tasks one at a time, in order, past a task that fails', async () => {
    const gate = new RefreshGate();
    const order: string[] = [];
    let running = 0;
    const task =
      (name: string, fail = false) =>
      async () => {
        running++;
        assert.equal(running, 1, 'never two at once');
        await sleep(10);
        order.push(name);
        running--;
        if (fail) throw new Error('failed');
      };
    gate.run(task('a'));
    gate.run(task('b', true));
    gate.run(task('c'));
    await new Promise<void>((resolve) => gate.run(async () => resolve()));
    assert.deepEqual(order, ['a', 'b', 'c']);
  });
});

describe('RefreshGate answers', () => {
  it('sends a refusal after the refreshes before it, and at once when the queue is full', async () => {
    const gate = new RefreshGate();
    const sent: string[] = [];
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    gate.run(async () => {
      await held;
      sent.push('refresh');
    });
    gate.answer(() => sent.push('refused-1'));
    assert.equal(sent.length, 0, 'waits for the refresh before it');
    for (let i = 2; i < WS_TICKET_REFRESH_LIMIT; i++) gate.answer(() => sent.push(`refused-${i}`));
    // The queue now holds WS_TICKET_REFRESH_LIMIT tasks: a flood queues nothing more.
    gate.answer(() => sent.push('overflow'));
    assert.deepEqual(sent, ['overflow']);
    release();
    await new Promise<void>((resolve) => gate.run(async () => resolve()));
    assert.deepEqual(sent.slice(1, 3), ['refresh', 'refused-1']);
    assert.equal(sent.length, WS_TICKET_REFRESH_LIMIT + 1);
  });
});

describe('refreshTicketOf', () => {
  it('reads only an own property named by param', () => {
    const uuid = '2f1c1b7e-8a0d-4c1e-9a5b-3d2f1e0c9b8a';
    assert.equal(refreshTicketOf({ uuid }, 'uuid'), uuid);
    assert.equal(refreshTicketOf({ ticket: uuid }, 'ticket'), uuid);
    assert.equal(refreshTicketOf({}, 'uuid'), undefined);
    assert.equal(refreshTicketOf(Object.create({ uuid }), 'uuid'), undefined);
    assert.equal(
      refreshTicketOf(JSON.parse(`{"__proto__":{"uuid":"${uuid}"}}`), 'uuid'),
      undefined,
    );
  });

  it('gives a non-string (a malformed ticket) for anything but a plain object', () => {
    for (const payload of [undefined, null, 'x', 42, true, ['uuid'], () => undefined]) {
      const ticket = refreshTicketOf(payload, 'uuid');
      assert.notEqual(typeof ticket, 'string');
      assert.notEqual(ticket, undefined);
    }
  });
});
