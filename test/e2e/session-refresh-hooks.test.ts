import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type INestApplication, Module, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  type OnGatewayConnection,
  SubscribeMessage,
  WebSocketGateway,
  WebSocketServer,
} from '@nestjs/websockets';
import type { Namespace, Socket as ServerSocket } from 'socket.io';
import type { WebSocket } from 'ws';
import {
  type WsTicketClaims,
  WsTicketError,
  WsTicketGuard,
  WsTicketIoAdapter,
  type WsTicketIoSocket,
  WsTicketModule,
  type WsTicketRefreshAck,
  type WsTicketSession,
  WsUser,
} from '../../lib/index.js';
import { WsTicketWsAdapter } from '../../lib/ws/index.js';
import { PLATFORMS, type StartedApp, startOn, ticketFor } from '../support/app.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { ask, connected, next } from '../support/sockets.js';
import { withDeadline } from '../support/stop-child.js';
import { closeWs, openedWs } from '../ws/fixtures/ws-app.js';

interface StaffUser {
  id: string;
  roles: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Roles by user id, as the app's user backend would have them now. */
const roles = new Map<string, string[]>();
const resolveUser = (claims: WsTicketClaims): StaffUser | false =>
  claims.sub === 'banned-at-refresh' && claims.late === true
    ? false
    : { id: String(claims.sub), roles: [...(roles.get(String(claims.sub)) ?? [])] };

/** The usual Nest pattern: authorize once, at connection, by joining rooms. */
@WebSocketGateway({ namespace: '/staff' })
@UseGuards(WsTicketGuard)
class StaffGateway implements OnGatewayConnection {
  @WebSocketServer() namespace!: Namespace;

  handleConnection(socket: ServerSocket): void {
    if ((socket.data.user as StaffUser | undefined)?.roles.includes('admin')) {
      void socket.join('admins');
    }
  }

  @SubscribeMessage('roles')
  roles(@WsUser('roles') current: string[]): string[] {
    return current;
  }
}

/** What the README tells apps to write: re-derive connection-time state on a refresh. */
class StaffIoAdapter extends WsTicketIoAdapter {
  protected override async authorizeRefresh(
    socket: WsTicketIoSocket,
    session: WsTicketSession,
    previous: WsTicketSession,
  ): Promise<void> {
    const user = session.user as StaffUser;
    if (user.id === 'hook-refuses') throw new WsTicketError('user_rejected');
    if (user.id === 'hook-throws') throw new Error('roles service down at 10.0.0.7');
    if (user.id === 'hook-hangs') await new Promise(() => {});
    assert.equal((previous.user as StaffUser).id, user.id);
    if (user.roles.includes('admin')) await socket.join('admins');
    else await socket.leave('admins');
  }
}

for (const platform of PLATFORMS) {
  const start = startOn(platform);

  describe(`authorizeRefresh() on Socket.IO [${platform}]`, () => {
    let started: StartedApp;
    before(async () => {
      started = await start(
        {
          imports: [
            WsTicketModule.forRoot({
              jwt: { secret: TEST_SECRET },
              issueLimit: false,
              callbackTimeout: 300,
              resolveUser,
            }),
          ],
          providers: [StaffGateway],
        },
        { adapter: (app) => new StaffIoAdapter(app) },
      );
    });
    after(() => started.close());

    const open = async (sub: string, seconds = 600) =>
      connected(`${started.url}/staff`, {
        auth: { uuid: await ticketFor(started.url, signJwt({ sub }, { expiresIn: seconds })) },
      });
    const refresh = async (socket: Awaited<ReturnType<typeof open>>, sub: string) =>
      ask<WsTicketRefreshAck>(socket, 'ws-ticket:refresh', {
        uuid: await ticketFor(started.url, signJwt({ sub }, { expiresIn: 600 })),
      });

    it('lets the app take a demoted user out of the rooms it joined at connection', async () => {
      roles.set('alice', ['admin']);
      const socket = await open('alice');
      const received: unknown[] = [];
      socket.on('admin-only', (payload) => received.push(payload));
      const gateway = started.app.get(StaffGateway);
      gateway.namespace.to('admins').emit('admin-only', 'before');
      await next(socket, 'admin-only');

      roles.set('alice', []);
      assert.equal((await refresh(socket, 'alice')).ok, true);
      assert.deepEqual(await ask(socket, 'roles'), [], '@WsUser() sees the demotion');
      gateway.namespace.to('admins').emit('admin-only', 'after');
      await ask(socket, 'roles'); // a round trip later, the broadcast would have arrived
      assert.deepEqual(received, ['before']);
      socket.disconnect();
    });

    it('a WsTicketError from the hook refuses the refresh with its code and keeps the old end', async () => {
      const socket = await open('hook-refuses', 3);
      assert.deepEqual(await refresh(socket, 'hook-refuses'), {
        ok: false,
        code: 'user_rejected',
      });
      const closed = new Promise<unknown>((resolve) => socket.once('unauthorized', resolve));
      assert.deepEqual(await withDeadline(closed, 15_000, 'the old end'), {
        code: 'session_expired',
      });
    });

    it('any other error, or no answer within callbackTimeout, is store_unavailable, never its text', async () => {
      for (const sub of ['hook-throws', 'hook-hangs']) {
        const socket = await open(sub);
        const ack = await refresh(socket, sub);
        assert.deepEqual(ack, { ok: false, code: 'store_unavailable' }, sub);
        assert.equal(socket.connected, true);
        socket.disconnect();
      }
    });

    it('refreshes as often as short-lived JWTs need: successes are never rate limited', async () => {
      const socket = await open('busy');
      for (let i = 0; i < 25; i++) {
        assert.equal((await refresh(socket, 'busy')).ok, true, `refresh ${i + 1}`);
      }
      socket.disconnect();
    });
  });
}

@WebSocketGateway({ path: '/ws' })
class ArrayFramesGateway {
  @SubscribeMessage('ping')
  ping(): { event: string; data: string } {
    return { event: 'pong', data: 'ok' };
  }
}

/** A raw ws adapter whose hook refuses users who lost a role, as an app's would. */
class StaffWsAdapter extends WsTicketWsAdapter {
  refreshed: string[] = [];

  protected override async authorizeRefresh(
    client: WebSocket,
    session: WsTicketSession,
  ): Promise<void> {
    const user = session.user as StaffUser;
    if (!user.roles.includes('staff')) throw new WsTicketError('user_rejected');
    this.refreshed.push(`${user.id}:${client.readyState}`);
  }
}

describe('Raw WebSocket refresh with an app frame format and authorizeRefresh()', () => {
  let app: INestApplication;
  let adapter: StaffWsAdapter;
  let url: string;

  before(async () => {
    @Module({
      imports: [
        WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, issueLimit: false, resolveUser }),
      ],
      providers: [ArrayFramesGateway],
    })
    class RawAppModule {}
    app = await NestFactory.create(RawAppModule, { logger: false });
    adapter = new StaffWsAdapter(app, {
      // The app's own wire format: ["event", data]. It leaves other shapes alone.
      messageParser: (data) => {
        const frame = JSON.parse(String(data)) as unknown;
        return Array.isArray(frame) ? { event: String(frame[0]), data: frame[1] } : undefined;
      },
    });
    app.useWebSocketAdapter(adapter);
    await app.listen(0, '127.0.0.1');
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1');
  });
  after(() => withDeadline(app.close(), 15_000, 'app.close()'));

  async function refreshOver(ws: WebSocket, sub: string): Promise<unknown> {
    const uuid = await ticketFor(url, signJwt({ sub }, { expiresIn: 600 }));
    const answer = new Promise<unknown>((resolve) => {
      const onMessage = (raw: Buffer) => {
        const frame = JSON.parse(String(raw)) as { event?: string; data?: unknown };
        if (frame.event !== 'ws-ticket:refresh') return;
        ws.off('message', onMessage);
        resolve(frame.data);
      };
      ws.on('message', onMessage);
    });
    ws.send(JSON.stringify({ event: 'ws-ticket:refresh', data: { uuid } }));
    return withDeadline(answer, 15_000, 'the refresh answer');
  }

  it('answers the module frame whatever the messageParser, and the app frames still work', async () => {
    roles.set('carol', ['staff']);
    const ticket = await ticketFor(url, signJwt({ sub: 'carol' }));
    const ws = await openedWs(`${url.replace(/^http/, 'ws')}/ws?uuid=${ticket}`);
    const answer = (await refreshOver(ws, 'carol')) as WsTicketRefreshAck;
    assert.equal(answer.ok, true);
    assert.deepEqual(adapter.refreshed, [`carol:${ws.OPEN}`]);
    const pong = new Promise<string>((resolve) =>
      ws.once('message', (raw) => resolve(String(raw))),
    );
    ws.send(JSON.stringify(['ping', null]));
    assert.equal(await withDeadline(pong, 15_000, 'pong'), '{"event":"pong","data":"ok"}');
    await closeWs(ws);
  });

  it('a WsTicketError from the hook refuses the refresh, and the socket stays as it was', async () => {
    roles.set('dave', ['staff']);
    const ticket = await ticketFor(url, signJwt({ sub: 'dave' }));
    const ws = await openedWs(`${url.replace(/^http/, 'ws')}/ws?uuid=${ticket}`);
    roles.set('dave', []);
    assert.deepEqual(await refreshOver(ws, 'dave'), { ok: false, code: 'user_rejected' });
    await sleep(50);
    assert.equal(ws.readyState, ws.OPEN);
    await closeWs(ws);
  });
});
