import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { UseGuards } from '@nestjs/common';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { Manager, type Socket } from 'socket.io-client';
import {
  WS_TICKET_REFRESH_LIMIT,
  type WsTicketClaims,
  WsTicketGuard,
  WsTicketModule,
  type WsTicketRefreshAck,
  WsTicketService,
} from '../../lib/index.js';
import { ChatTestGateway, NotificationsTestGateway } from '../fixtures/gateways.js';
import { CountingStore } from '../fixtures/stores.js';
import { PLATFORMS, type StartedApp, startOn, ticketFor } from '../support/app.js';
import { RawEngineIo } from '../support/engine-io.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { ask, connected, next, outcome } from '../support/sockets.js';
import { withDeadline } from '../support/stop-child.js';
import { CaptureLogger } from '../ws/fixtures/ws-app.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A JWT of `sub` that expires in `seconds`, and that expiry in epoch milliseconds. */
function session(sub: string, seconds: number, extra: Record<string, unknown> = {}) {
  const token = signJwt({ sub, ...extra }, { expiresIn: seconds });
  const { exp } = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as {
    exp: number;
  };
  return { token, expiresAt: exp * 1000 };
}

/** Resolves the `unauthorized` code and the disconnect reason of a socket the server closes. */
function closure(socket: Socket): Promise<{ code?: string; reason: string }> {
  return withDeadline(
    new Promise((resolve) => {
      let code: string | undefined;
      socket.once('unauthorized', (payload: { code: string }) => {
        code = payload.code;
      });
      socket.once('disconnect', (reason) => resolve({ code, reason }));
    }),
    20_000,
    'the server closing the socket',
  );
}

/** A gateway that tries to see the module's events: none of its handlers may ever run. */
@WebSocketGateway({ namespace: '/chat' })
@UseGuards(WsTicketGuard)
class SnoopingGateway {
  static calls = 0;

  @SubscribeMessage('ws-ticket:refresh')
  refresh(): string {
    SnoopingGateway.calls++;
    return 'seen';
  }

  @SubscribeMessage('ws-ticket:other')
  other(): string {
    SnoopingGateway.calls++;
    return 'seen';
  }
}

for (const platform of PLATFORMS) {
  const start = startOn(platform);

  describe(`Live session refresh on Socket.IO [${platform}]`, () => {
    let started: StartedApp;
    let service: WsTicketService;
    const store = new CountingStore();
    const logger = new CaptureLogger();
    /** resolveUser calls so far: each user carries the call that made it, to see it re-resolved. */
    let resolved = 0;
    const managers: Manager[] = [];

    before(async () => {
      started = await start(
        {
          imports: [
            WsTicketModule.forRoot({
              jwt: { secret: TEST_SECRET },
              issueLimit: false,
              refreshWindow: 1,
              store,
              resolveUser: async (claims: WsTicketClaims) => {
                if (claims.slow) await sleep(700);
                resolved++;
                return { id: String(claims.sub), name: `user-${claims.sub}`, resolved };
              },
            }),
          ],
          providers: [ChatTestGateway, NotificationsTestGateway],
        },
        { logger },
      );
      service = started.app.get(WsTicketService);
    });
    after(async () => {
      for (const manager of managers) manager.engine?.close();
      await started.close();
    });

    /** One physical connection (a Manager) to open namespace sockets on. */
    function manager(): Manager {
      const created = new Manager(started.url, {
        transports: ['websocket'],
        reconnection: false,
        autoConnect: false,
      });
      managers.push(created);
      return created;
    }

    async function open(namespace: string, uuid: string, on = manager()): Promise<Socket> {
      const socket = on.socket(namespace, { auth: { uuid } });
      socket.connect();
      const result = await outcome(socket);
      if (!result.ok) throw new Error(`refused: ${result.code}`);
      return socket;
    }

    it('announces the end, and a fresh ticket keeps the same socket past the old exp with the user resolved again', async () => {
      const first = session('1', 3);
      const socket = await open('/chat', await ticketFor(started.url, first.token));
      const id = socket.id;
      const before = await ask<{ resolved: number }>(socket, 'whoami');

      const expiring = await next<{ expiresAt: number }>(socket, 'ws-ticket:expiring');
      assert.deepEqual(expiring, { expiresAt: first.expiresAt });
      const second = session('1', 8);
      const ack = await ask<WsTicketRefreshAck>(socket, 'ws-ticket:refresh', {
        uuid: await ticketFor(started.url, second.token),
      });
      assert.deepEqual(ack, { ok: true, expiresAt: second.expiresAt });

      await sleep(Math.max(0, first.expiresAt - Date.now()) + 500);
      assert.equal(socket.connected, true, 'still open past the old exp');
      assert.equal(socket.id, id, 'the same socket, no reconnect');
      const after = await ask<{ resolved: number; id: string }>(socket, 'whoami');
      assert.equal(after.id, '1');
      assert.ok(after.resolved > before.resolved, 'resolveUser ran again for the refresh');
      socket.disconnect();
    });

    it('closes with session_expired at the new end when nobody refreshes again', async () => {
      const first = session('1', 2);
      const socket = await open('/chat', await ticketFor(started.url, first.token));
      await next(socket, 'ws-ticket:expiring');
      const second = session('1', 4);
      await ask(socket, 'ws-ticket:refresh', { uuid: await ticketFor(started.url, second.token) });
      const announced = await next<{ expiresAt: number }>(socket, 'ws-ticket:expiring');
      assert.equal(announced.expiresAt, second.expiresAt, 'the new end is announced too');
      const closed = await closure(socket);
      assert.deepEqual(closed, { code: 'session_expired', reason: 'io server disconnect' });
      assert.ok(Date.now() > first.expiresAt, 'not at the old end');
    });

    it('refuses a spent ticket with ticket_invalid and keeps the old end', async () => {
      const first = session('1', 3);
      const uuid = await ticketFor(started.url, first.token);
      const socket = await open('/chat', uuid);
      const ack = await ask<WsTicketRefreshAck>(socket, 'ws-ticket:refresh', { uuid });
      assert.deepEqual(ack, { ok: false, code: 'ticket_invalid' });
      const closed = await closure(socket);
      assert.deepEqual(closed, { code: 'session_expired', reason: 'io server disconnect' });
    });

    it('a ticket of another user: user_mismatch, then unauthorized and the whole connection closed', async () => {
      const mine = session('1', 30);
      const connection = manager();
      const uuid = await ticketFor(started.url, mine.token);
      const chat = await open('/chat', uuid, connection);
      const notifications = await open('/notifications', uuid, connection);
      const closures = [closure(chat), closure(notifications)];
      const theirs = session('2', 30);
      const ack = await ask<WsTicketRefreshAck>(chat, 'ws-ticket:refresh', {
        uuid: await ticketFor(started.url, theirs.token),
      });
      assert.deepEqual(ack, { ok: false, code: 'user_mismatch' });
      for (const closed of await Promise.all(closures)) {
        assert.equal(closed.code, 'user_mismatch');
      }
      assert.equal(connection.engine?.readyState, 'closed', 'the transport is closed');
    });

    it('one refresh keeps every namespace multiplexed on the connection alive', async () => {
      const first = session('1', 3);
      const connection = manager();
      const uuid = await ticketFor(started.url, first.token);
      const chat = await open('/chat', uuid, connection);
      const notifications = await open('/notifications', uuid, connection);
      const second = session('1', 30);
      const ack = await ask<WsTicketRefreshAck>(chat, 'ws-ticket:refresh', {
        uuid: await ticketFor(started.url, second.token),
      });
      assert.deepEqual(ack, { ok: true, expiresAt: second.expiresAt });
      await sleep(Math.max(0, first.expiresAt - Date.now()) + 500);
      assert.equal(chat.connected, true);
      assert.equal(notifications.connected, true, 'the other namespace lives on too');
      const user = await ask<{ id: string }>(notifications, 'whoami');
      assert.equal(user.id, '1');
      connection.engine?.close();
    });

    it('a socket revoked while its refresh is in flight is closed, and the refresh is refused', async () => {
      const socket = await open('/chat', await ticketFor(started.url, session('1', 30).token));
      const closed = closure(socket);
      const uuid = await ticketFor(started.url, session('1', 60, { slow: true }).token);
      socket.emit('ws-ticket:refresh', { uuid }, () => {
        assert.fail('a revoked socket got a refresh answer');
      });
      await sleep(200);
      await service.disconnectUser('1');
      assert.deepEqual(await closed, { code: 'user_revoked', reason: 'io server disconnect' });
      await sleep(900);
      assert.ok(
        logger.lines.some((line) =>
          line.includes('WebSocket session refresh refused: user_revoked'),
        ),
        'the in-flight refresh was refused',
      );
    });

    it('revokeUserTickets leaves the socket open: a ticket issued before it is spent, one issued after refreshes', async () => {
      const socket = await open('/chat', await ticketFor(started.url, session('2', 30).token));
      const before = await ticketFor(started.url, session('2', 40).token);
      await service.revokeUserTickets('2');
      const after = session('2', 50);
      assert.deepEqual(await ask(socket, 'ws-ticket:refresh', { uuid: before }), {
        ok: false,
        code: 'ticket_invalid',
      });
      assert.deepEqual(
        await ask(socket, 'ws-ticket:refresh', { uuid: await ticketFor(started.url, after.token) }),
        { ok: true, expiresAt: after.expiresAt },
      );
      socket.disconnect();
    });

    it(`refuses the refresh after ${WS_TICKET_REFRESH_LIMIT} a minute with rate_limited, without the store`, async () => {
      const socket = await open('/chat', await ticketFor(started.url, session('2', 60).token));
      for (let i = 0; i < WS_TICKET_REFRESH_LIMIT; i++) {
        const ack = await ask<WsTicketRefreshAck>(socket, 'ws-ticket:refresh', { uuid: 'x' });
        assert.deepEqual(ack, { ok: false, code: 'ticket_malformed' });
      }
      const uuid = await ticketFor(started.url, session('2', 60).token);
      const takes = store.takes.length;
      const ack = await ask<WsTicketRefreshAck>(socket, 'ws-ticket:refresh', { uuid });
      assert.deepEqual(ack, { ok: false, code: 'rate_limited' });
      assert.equal(store.takes.length, takes, 'the store was not touched');
      socket.disconnect();
    });
  });

  describe(`Refresh frames from a raw engine.io client [${platform}]`, () => {
    let started: StartedApp;
    const store = new CountingStore();
    const logger = new CaptureLogger();

    before(async () => {
      SnoopingGateway.calls = 0;
      started = await start(
        {
          imports: [
            WsTicketModule.forRoot({
              jwt: { secret: TEST_SECRET },
              issueLimit: false,
              store,
              resolveUser: (claims) => ({ id: String(claims.sub) }),
            }),
          ],
          providers: [SnoopingGateway],
        },
        { logger },
      );
    });
    after(() => started.close());

    it('answers every malformed payload with a code, touches no store, and reaches no handler', async () => {
      const raw = await RawEngineIo.open(started.url);
      try {
        const uuid = await ticketFor(started.url, signJwt({ sub: '1' }));
        assert.equal((await raw.connect('/chat', { uuid })).ok, true);
        const takes = store.takes.length;
        const cases: Array<[string, string]> = [
          ['"x"', 'ticket_malformed'],
          ['', 'ticket_malformed'],
          ['null', 'ticket_malformed'],
          ['["uuid"]', 'ticket_malformed'],
          ['{}', 'ticket_missing'],
          ['{"uuid":""}', 'ticket_missing'],
          ['{"uuid":123}', 'ticket_malformed'],
          ['{"uuid":"not-a-uuid"}', 'ticket_malformed'],
          [`{"uuid":"${'a'.repeat(100_000)}"}`, 'ticket_malformed'],
          ['{"__proto__":{"uuid":"2f1c1b7e-8a0d-4c1e-9a5b-3d2f1e0c9b8a"}}', 'ticket_missing'],
        ];
        assert.equal(cases.length, WS_TICKET_REFRESH_LIMIT);
        let id = 10;
        for (const [payload, code] of cases) {
          id++;
          const from = raw.packets.length;
          // '' sends the event with no payload at all, only the ack id.
          raw.send(`42/chat,${id}["ws-ticket:refresh"${payload === '' ? '' : `,${payload}`}]`);
          const answer = await raw.until((packet) => packet.startsWith(`43/chat,${id}`), from);
          assert.equal(
            answer,
            `43/chat,${id}[{"ok":false,"code":"${code}"}]`,
            payload.slice(0, 40),
          );
        }
        // That was the connection's 10 attempts of the minute: the next is refused unread.
        raw.send('42/chat,90["ws-ticket:refresh"]');
        assert.equal(
          await raw.until((packet) => packet.startsWith('43/chat,90')),
          '43/chat,90[{"ok":false,"code":"rate_limited"}]',
        );
        // Other events of the module's are dropped unanswered.
        raw.send('42/chat,91["ws-ticket:other",{}]');
        raw.send('42/chat,92["ws-ticket:expiring",{"expiresAt":1}]');
        raw.send('42/chat,93["echo-free",1]');
        await sleep(200);
        assert.equal(
          raw.packets.some((packet) => /^43\/chat,9[123]/.test(packet)),
          false,
          'no answer to events the module drops',
        );
        assert.equal(store.takes.length, takes, 'the store was never touched');
        assert.equal(SnoopingGateway.calls, 0, 'no gateway handler saw a ws-ticket:* event');
        assert.equal(raw.closed, false, 'the connection stays open');
        assert.ok(
          logger.lines.some((line) =>
            line.includes("@SubscribeMessage('ws-ticket:refresh') is never called"),
          ),
          'the reserved handler is named in a warning',
        );
        assert.equal(
          logger.lines.some((line) => line.includes('aaaaaaaa')),
          false,
          'no payload in any log line',
        );
      } finally {
        raw.close();
      }
    });

    it('a refresh without a session end keeps none (expiresAt: null)', async () => {
      const socket = await connected(`${started.url}/chat`, {
        auth: { uuid: await ticketFor(started.url, signJwt({ sub: '1' })) },
      });
      try {
        // Claims of the app's own, with no exp: the session has no end any more.
        const { uuid } = await started.app.get(WsTicketService).issue({ sub: '1' });
        const ack = await ask<WsTicketRefreshAck>(socket, 'ws-ticket:refresh', { uuid });
        assert.deepEqual(ack, { ok: true, expiresAt: null });
      } finally {
        socket.disconnect();
      }
    });
  });
}
