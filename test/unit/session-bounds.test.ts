import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WsTicketError } from '../../lib/index.js';
import {
  ConnectionSessions,
  LocalRevocations,
  RefusalLog,
  type WsTicketSession,
} from '../../lib/session/index.js';

const session = (userId: string, startedAt = performance.now()): WsTicketSession => ({
  user: { id: userId },
  userId,
  sessionExpiresAt: undefined,
  stamp: { startedAt, generation: 0 },
});

describe('ConnectionSessions', () => {
  const limits = { maxShared: 4, shareWindow: 10_000, maxRefusals: 10 };

  it('never remembers more than maxShared tickets on one connection', async () => {
    const sessions = new ConnectionSessions(limits, () => false);
    const connection = {};
    let consumed = 0;
    for (let i = 0; i < 20; i++) {
      await sessions.share(connection, `ticket-${i}`, async () => {
        consumed++;
        return session('1');
      });
      assert.ok(sessions.sharedCount(connection) <= limits.maxShared);
    }
    assert.equal(consumed, 20);
    assert.equal(sessions.sharedCount(connection), limits.maxShared);
  });

  it('forgets a fresh consumption, and the connection, when its share window ends, with no handshake after it', async () => {
    const sessions = new ConnectionSessions({ ...limits, shareWindow: 30 }, () => false);
    const connection = {};
    await sessions.share(connection, 'ticket', async () => session('1'));
    const states = (sessions as unknown as { states: WeakMap<object, unknown> }).states;
    assert.equal(states.has(connection), true);
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(states.has(connection), false);
  });

  it('shares an in-flight consumption, and forgets it once it is refused', async () => {
    const sessions = new ConnectionSessions(limits, () => false);
    const connection = {};
    let consumed = 0;
    const refuse = async () => {
      consumed++;
      throw new WsTicketError('ticket_invalid');
    };
    const both = [sessions.share(connection, 't', refuse), sessions.share(connection, 't', refuse)];
    for (const outcome of await Promise.allSettled(both)) assert.equal(outcome.status, 'rejected');
    assert.equal(consumed, 1);
    assert.equal(sessions.sharedCount(connection), 0);
  });

  it('stops sharing after the window', async () => {
    const sessions = new ConnectionSessions({ ...limits, shareWindow: 20 }, () => false);
    const connection = {};
    let consumed = 0;
    const consume = async () => {
      consumed++;
      return session('1');
    };
    await sessions.share(connection, 't', consume);
    await sessions.share(connection, 't', consume);
    assert.equal(consumed, 1);
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.equal(sessions.sharedCount(connection), 0);
    await sessions.share(connection, 't', consume);
    assert.equal(consumed, 2);
  });

  it('refuses a revoked shared session with user_revoked and drops it', async () => {
    let revoked = false;
    const sessions = new ConnectionSessions(limits, () => revoked);
    const connection = {};
    await sessions.share(connection, 't', async () => session('1'));
    revoked = true;
    await assert.rejects(
      sessions.share(connection, 't', async () => session('1')),
      (error: unknown) => error instanceof WsTicketError && error.code === 'user_revoked',
    );
    assert.equal(sessions.sharedCount(connection), 0);
  });

  it('says when a connection reached maxRefusals', () => {
    const sessions = new ConnectionSessions(limits, () => false);
    const connection = {};
    const answers = Array.from({ length: 10 }, () => sessions.refused(connection));
    assert.deepEqual(answers, [...Array(9).fill(false), true]);
  });
});

describe('LocalRevocations', () => {
  it('revokes sessions started before, not after, and forgets old revocations', async () => {
    const revocations = new LocalRevocations(30);
    const before = performance.now();
    revocations.revoke('1');
    assert.ok(revocations.revokedSince('1', before));
    assert.ok(!revocations.revokedSince('1', performance.now() + 1));
    assert.ok(!revocations.revokedSince('2', before));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(revocations.size, 0);
  });
});

describe('RefusalLog', () => {
  it('writes at most two lines per kind per window, whatever the flood', () => {
    const lines: string[] = [];
    const log = new RefusalLog({ warn: (line) => lines.push(line) });
    for (let i = 0; i < 10_000; i++) log.record(i % 2 ? 'refused: ticket_invalid' : 'refused: x');
    assert.equal(lines.length, 2);
    assert.equal(log.size, 2);
    log.flush();
    assert.deepEqual(lines.slice(2), [
      'refused: x: 4999 more in the last 60 s',
      'refused: ticket_invalid: 4999 more in the last 60 s',
    ]);
    assert.equal(log.size, 0);
  });
});
