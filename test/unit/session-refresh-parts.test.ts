import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  scheduleSessionEnd,
  WS_TICKET_REFRESH_LIMIT,
  type WsTicketRefreshAck,
} from '../../lib/index.js';
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

describe('scheduleSessionEnd', () => {
  it('calls back at the end, at once for an end already past, and never once cancelled', async () => {
    const calls: string[] = [];
    scheduleSessionEnd(Date.now() - 1, () => calls.push('past'));
    assert.deepEqual(calls, ['past'], 'an end already past is called at once');
    const cancel = scheduleSessionEnd(Date.now() + 30, () => calls.push('cancelled'));
    const ended = new Promise<void>((resolve) => {
      scheduleSessionEnd(Date.now() + 60, () => {
        calls.push('end');
        resolve();
      });
    });
    cancel();
    await ended;
    assert.deepEqual(calls, ['past', 'end']);
  });
});

describe('RefreshGate', () => {
  const ok: WsTicketRefreshAck = { ok: true, expiresAt: 1 };
  const refused: WsTicketRefreshAck = { ok: false, code: 'ticket_invalid' };
  const label = (answer: WsTicketRefreshAck) => (answer.ok ? 'ok' : answer.code);

  /** Resolves once every attempt submitted before has been answered. */
  const drained = (gate: RefreshGate) =>
    new Promise<void>((resolve) => {
      gate.submit(
        async () => {
          resolve();
          return undefined;
        },
        () => undefined,
        () => resolve(),
      );
    });

  /** Submits attempts answering `acks` in turn; resolves what was sent and how many ran. */
  async function submitAll(gate: RefreshGate, acks: WsTicketRefreshAck[]) {
    const sent: string[] = [];
    let ran = 0;
    let limited = 0;
    for (const ack of acks) {
      gate.submit(
        async () => {
          ran++;
          return ack;
        },
        (answer) => sent.push(label(answer)),
        () => limited++,
      );
      // One at a time, as a client helper sends them.
      await drained(gate);
    }
    return { sent, ran, limited };
  }

  it(`refuses unread after ${WS_TICKET_REFRESH_LIMIT} refusals a minute, and never counts successes`, async () => {
    const gate = new RefreshGate();
    const successes = await submitAll(gate, Array(3 * WS_TICKET_REFRESH_LIMIT).fill(ok));
    assert.equal(successes.ran, 3 * WS_TICKET_REFRESH_LIMIT, 'successes are never limited');
    assert.equal(gate.size, 0);
    await submitAll(gate, Array(WS_TICKET_REFRESH_LIMIT).fill(refused));
    const after = await submitAll(gate, [ok, refused]);
    assert.deepEqual(after, { sent: ['rate_limited', 'rate_limited'], ran: 0, limited: 2 });
    assert.equal(gate.size, WS_TICKET_REFRESH_LIMIT, 'never holds more than the limit');
  });

  it('runs attempts one at a time, answering in the order they came', async () => {
    const gate = new RefreshGate();
    const sent: string[] = [];
    let running = 0;
    const attempt = (ack: WsTicketRefreshAck) => async () => {
      running++;
      assert.equal(running, 1, 'never two at once');
      await sleep(10);
      running--;
      return ack;
    };
    for (const ack of [ok, refused, ok]) {
      gate.submit(
        attempt(ack),
        (answer) => sent.push(label(answer)),
        () => undefined,
      );
    }
    await drained(gate);
    assert.deepEqual(sent, ['ok', 'ticket_invalid', 'ok']);
  });

  it(`answers at once, unread, past ${WS_TICKET_REFRESH_LIMIT} waiting (a flood queues nothing)`, async () => {
    const gate = new RefreshGate();
    const sent: string[] = [];
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    for (let i = 0; i < WS_TICKET_REFRESH_LIMIT; i++) {
      gate.submit(
        async () => {
          await held;
          return ok;
        },
        (answer) => sent.push(label(answer)),
        () => undefined,
      );
    }
    let ran = false;
    gate.submit(
      async () => {
        ran = true;
        return ok;
      },
      (answer) => sent.push(label(answer)),
      () => undefined,
    );
    assert.deepEqual(sent, ['rate_limited'], 'the overflow is answered before the queue moves');
    release();
    // The held attempts settle within microtasks: a timer turn later the queue is empty.
    await sleep(20);
    await drained(gate);
    assert.equal(ran, false);
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
