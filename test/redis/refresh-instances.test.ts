import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import {
  RedisTicketStore,
  type WsTicketExpiring,
  WsTicketModule,
  type WsTicketRefreshAck,
  WsTicketService,
} from '../../lib/index.js';
import { RedisWsTicketIoAdapter } from '../../sample/redis/redis-ws-ticket-io.adapter.js';
import { type StartedApp, startApp, ticketFor } from '../support/app.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import {
  type RedisServerHandle,
  redisSkipReason,
  startRedisServer,
} from '../support/redis-server.js';
import { ANSWER_WAIT_MS, ask, connect, connected, next } from '../support/sockets.js';
import {
  expOf,
  past,
  RefreshDirectory,
  RefreshLog,
  RefreshWsGateway,
  refreshesSettled,
  refreshGateOf,
  refreshWith,
  type SessionView,
} from '../ws/fixtures/refresh.js';
import {
  ask as askWs,
  closeWs,
  nextFrame,
  openedWs,
  openWs,
  type StartedWsApp,
  startWsApp,
  closure as wsClosure,
} from '../ws/fixtures/ws-app.js';
import type { IoSessionView } from './fixtures/refresh.gateway.js';
import { RefreshIoGateway } from './fixtures/refresh.gateway.js';
import { eventually } from './support/redis-tools.js';
import { closure } from './support/sample.js';

const skip = redisSkipReason();

/** The module of one instance: the shared Redis store, its own user directory. */
function refreshModule(url: string, directory: RefreshDirectory) {
  return WsTicketModule.forRoot({
    jwt: { secret: TEST_SECRET },
    store: new RedisTicketStore({ url }),
    resolveUser: directory.resolve,
    refreshWindow: 2,
  });
}

/**
 * Two app instances (Nest apps with their own module, service and adapter, as two processes behind
 * a load balancer) on one real Redis: a refresh on one with a ticket of the other.
 */
describe('Session refresh across two instances on one Redis', { skip, timeout: 120_000 }, () => {
  let redis: RedisServerHandle;
  before(async () => {
    redis = await startRedisServer();
  });
  after(() => redis?.stop());

  describe('Socket.IO, with the Redis adapter', () => {
    const directoryA = new RefreshDirectory();
    const directoryB = new RefreshDirectory();
    let a: StartedApp;
    let b: StartedApp;
    let onA: WsTicketService;
    const sockets: Socket[] = [];
    /** Connects to `/chat` of `instance` with a ticket issued there for `token`. */
    const open = async (instance: StartedApp, token: string) => {
      const uuid = await ticketFor(instance.url, token);
      const socket = await connected(`${instance.url}/chat`, { auth: { uuid } });
      sockets.push(socket);
      return socket;
    };
    const refresh = (socket: Socket, uuid: string) =>
      ask<WsTicketRefreshAck>(socket, 'ws-ticket:refresh', { uuid });

    before(async () => {
      const instance = (directory: RefreshDirectory) =>
        startApp(
          { imports: [refreshModule(redis.url, directory)], providers: [RefreshIoGateway] },
          { adapter: (app) => new RedisWsTicketIoAdapter(app, redis.url) },
        );
      [a, b] = await Promise.all([instance(directoryA), instance(directoryB)]);
      onA = a.app.get(WsTicketService);
      // The Redis adapter subscribes in the background: wait until A's revocations reach B.
      await eventually(async () => {
        const sub = `probe-${randomUUID()}`;
        const socket = await open(b, signJwt({ sub }));
        const gone = new Promise<boolean>((resolve) => {
          socket.once('disconnect', () => resolve(true));
          setTimeout(() => resolve(false), 500);
        });
        await onA.disconnectUser(sub);
        return gone;
      }, "A's disconnectUser to reach B");
    });
    afterEach(() => {
      for (const socket of sockets.splice(0)) socket.close();
    });
    after(() => Promise.all([a?.close(), b?.close()]));

    it('refreshes a socket on B with a ticket issued on A: { ok: true, expiresAt }, connected past the old exp, closed session_expired at the new one', async () => {
      const first = signJwt({ sub: 'io-renewer' }, { expiresIn: 3 });
      const socket = await open(b, first);
      const closed = closure(socket);
      const expiring = next<WsTicketExpiring>(socket, 'ws-ticket:expiring');
      // Fetched before the warning; one second longer, so that it ends later than the first.
      const second = signJwt({ sub: 'io-renewer' }, { expiresIn: 4 });
      const uuid = await ticketFor(a.url, second);
      assert.ok(expOf(second) > expOf(first));
      assert.deepEqual(await expiring, { expiresAt: expOf(first) * 1000 });

      const answer = await refresh(socket, uuid);
      assert.deepEqual(answer, { ok: true, expiresAt: expOf(second) * 1000 });

      await past(expOf(first) * 1000);
      assert.ok(socket.connected);
      const view = await ask<IoSessionView>(socket, 'session');
      assert.equal(view.sessionExpiresAt, expOf(second) * 1000);
      assert.equal((await closed).code, 'session_expired');
      assert.ok(Date.now() >= expOf(second) * 1000, 'closed before the new end');
    });

    it('spends a ticket once across instances: after a refresh on B it is ticket_invalid for a refresh on B or A and a handshake on A', async () => {
      const onB = await open(b, signJwt({ sub: 'io-once' }));
      const alsoOnA = await open(a, signJwt({ sub: 'io-once' }));
      const uuid = await ticketFor(a.url, signJwt({ sub: 'io-once' }));
      assert.equal((await refresh(onB, uuid)).ok, true);
      assert.deepEqual(await refresh(onB, uuid), { ok: false, code: 'ticket_invalid' });
      assert.deepEqual(await refresh(alsoOnA, uuid), { ok: false, code: 'ticket_invalid' });
      const handshake = await connect(`${a.url}/chat`, { auth: { uuid } });
      assert.equal(!handshake.ok && handshake.code, 'ticket_invalid');
    });

    it('closes the socket on B (unauthorized user_revoked) when A disconnects its user during a refresh on B, which is never acked ok', async () => {
      const socket = await open(b, signJwt({ sub: 'io-revoked' }));
      const closed = closure(socket);
      const uuid = await ticketFor(a.url, signJwt({ sub: 'io-revoked' }));
      const held = directoryB.hold('io-revoked');
      const acked = socket
        .timeout(ANSWER_WAIT_MS)
        .emitWithAck('ws-ticket:refresh', { uuid })
        .catch((error: Error) => error);
      await held.entered;

      await onA.disconnectUser('io-revoked');
      assert.deepEqual(await closed, {
        events: ['unauthorized', 'disconnect'],
        code: 'user_revoked',
        reason: 'io server disconnect',
      });
      held.release();
      const answer: unknown = await acked;
      assert.notEqual((answer as { ok?: unknown }).ok, true);
    });
  });

  describe('raw WebSocket', () => {
    const directoryA = new RefreshDirectory();
    const directoryB = new RefreshDirectory();
    let a: StartedWsApp;
    let b: StartedWsApp;
    let onA: WsTicketService;
    const open = async (instance: StartedWsApp, token: string) =>
      openedWs(`${instance.wsUrl}/ws?uuid=${await ticketFor(instance.url, token)}`);

    before(async () => {
      const instance = (directory: RefreshDirectory) =>
        startWsApp({
          imports: [refreshModule(redis.url, directory)],
          providers: [RefreshWsGateway, RefreshLog],
        });
      [a, b] = await Promise.all([instance(directoryA), instance(directoryB)]);
      onA = a.app.get(WsTicketService);
    });
    after(() => Promise.all([a?.close(), b?.close()]));

    it('refreshes a raw socket on B with a ticket issued on A: { ok: true, expiresAt }, open past the old exp, closed 4001 at the new one', async () => {
      const first = signJwt({ sub: 'ws-renewer' }, { expiresIn: 3 });
      const ws = await open(b, first);
      const closed = wsClosure(ws);
      const expiring = nextFrame<WsTicketExpiring>(ws, 'ws-ticket:expiring');
      // Fetched before the warning; one second longer, so that it ends later than the first.
      const second = signJwt({ sub: 'ws-renewer' }, { expiresIn: 4 });
      const uuid = await ticketFor(a.url, second);
      assert.ok(expOf(second) > expOf(first));
      assert.deepEqual(await expiring, { expiresAt: expOf(first) * 1000 });

      const answer = await refreshWith(ws, uuid);
      assert.deepEqual(answer, { ok: true, expiresAt: expOf(second) * 1000 });

      await past(expOf(first) * 1000);
      assert.equal(ws.readyState, ws.OPEN);
      const view = await askWs<SessionView>(ws, 'session');
      assert.equal(view.sessionExpiresAt, expOf(second) * 1000);
      assert.deepEqual(await closed, { code: 4001, reason: 'session_expired' });
      assert.ok(Date.now() >= expOf(second) * 1000, 'closed before the new end');
    });

    it('spends a ticket once across instances: after a refresh on B it is ticket_invalid for a refresh on B or A and an upgrade on A', async () => {
      const onB = await open(b, signJwt({ sub: 'ws-once' }));
      const alsoOnA = await open(a, signJwt({ sub: 'ws-once' }));
      const uuid = await ticketFor(a.url, signJwt({ sub: 'ws-once' }));
      assert.equal((await refreshWith(onB, uuid)).ok, true);
      assert.deepEqual(await refreshWith(onB, uuid), { ok: false, code: 'ticket_invalid' });
      assert.deepEqual(await refreshWith(alsoOnA, uuid), { ok: false, code: 'ticket_invalid' });
      const upgrade = await openWs(`${a.wsUrl}/ws?uuid=${uuid}`);
      assert.equal(!upgrade.ok && upgrade.code, 'ticket_invalid');
      await Promise.all([closeWs(onB), closeWs(alsoOnA)]);
    });

    // A's disconnectUser reaches B through the store's channel (issue #15): B closes the socket,
    // and the refresh in flight extends nothing whichever comes first.
    it('refuses with user_revoked a refresh in flight on B when A disconnects the user, extends nothing, and B closes the socket 4003', async () => {
      const ws = await open(b, signJwt({ sub: 'ws-revoked' }));
      const closed = wsClosure(ws);
      const client = b.app.get(RefreshLog).clients.get('ws-revoked');
      assert.ok(client);
      const { user, sessionExpiresAt } = client.data;
      const uuid = await ticketFor(a.url, signJwt({ sub: 'ws-revoked' }, { expiresIn: 3600 }));
      const held = directoryB.hold('ws-revoked');
      // undefined when the socket closed before answering.
      const answered = nextFrame<WsTicketRefreshAck>(ws, 'ws-ticket:refresh').catch(
        () => undefined,
      );
      ws.send(JSON.stringify({ event: 'ws-ticket:refresh', data: { uuid } }));
      await held.entered;
      const gate = refreshGateOf(b.adapter, client);
      assert.ok(gate);

      await onA.disconnectUser('ws-revoked');
      held.release();
      const answer = await answered;
      // The refusal, or no answer at all when B's close came first.
      if (answer !== undefined) assert.deepEqual(answer, { ok: false, code: 'user_revoked' });
      await refreshesSettled(gate);
      assert.equal(client.data.user, user);
      assert.equal(client.data.sessionExpiresAt, sessionExpiresAt);
      assert.deepEqual(await closed, { code: 4003, reason: 'user_revoked' });
    });

    it('closes on B, 4003 user_revoked, the socket of a user A disconnected, and refuses on B a ticket issued before (ticket_invalid)', async () => {
      const ws = await open(b, signJwt({ sub: 'ws-later' }));
      const closed = wsClosure(ws);
      const uuid = await ticketFor(a.url, signJwt({ sub: 'ws-later' }));
      await onA.disconnectUser('ws-later');
      assert.deepEqual(await closed, { code: 4003, reason: 'user_revoked' });
      const upgrade = await openWs(`${b.wsUrl}/ws?uuid=${uuid}`);
      assert.equal(!upgrade.ok && upgrade.code, 'ticket_invalid');
    });
  });
});
