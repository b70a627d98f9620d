import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Server } from 'socket.io';
import { io, type Socket } from 'socket.io-client';
import type { WebSocket } from 'ws';
import { type WsTicketRoomAck, WsTicketRooms, WsTicketService } from '../../lib/index.js';
import {
  OrderRooms,
  OrdersFixture,
  RoomsChatGateway,
  roomsModule,
} from '../rooms/fixtures/rooms-app.js';
import { RoomsWsGateway } from '../rooms/fixtures/rooms-ws-gateway.js';
import { type StartedApp, startOn, ticketFor } from '../support/app.js';
import { RawEngineIo } from '../support/engine-io.js';
import { CapturingIoAdapter } from '../support/internals.js';
import { signJwt } from '../support/jwt.js';
import { ask, connected, next, outcome } from '../support/sockets.js';
import { ask as askWs, openedWs, type StartedWsApp, startWsApp } from '../ws/fixtures/ws-app.js';
import { AttackRooms, RecoveryRoomsGateway } from './fixtures/rooms-attacks-app.js';

/** Bounds every wait of a test (fetch and socket helpers have no bound of their own). */
const BOUNDED = { timeout: 30_000 };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` holds (bounded). */
async function until(check: () => boolean, what: string, timeout = 5000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not in time: ${what}`);
    await sleep(5);
  }
}

/** Sends `ws-ticket:join` on a raw engine.io connection with ack id `id`; resolves the ack. */
async function rawJoin(
  raw: RawEngineIo,
  namespace: string,
  id: number,
  room: string,
): Promise<WsTicketRoomAck> {
  const from = raw.packets.length;
  raw.send(`42${namespace},${id}${JSON.stringify(['ws-ticket:join', { room }])}`);
  const answer = await raw.until((packet) => packet.startsWith(`43${namespace},${id}[`), from);
  if (answer === undefined) throw new Error('transport closed before the ack');
  return (JSON.parse(answer.slice(`43${namespace},${id}`.length)) as [WsTicketRoomAck])[0];
}

describe('Room attacks on Socket.IO (/chat)', () => {
  let started: StartedApp;
  let orders: OrdersFixture;
  const sockets: Socket[] = [];

  before(async () => {
    started = await startOn('express')({
      imports: [
        roomsModule({
          callbackTimeout: 2000,
          roomJoinLimit: { limit: 5, window: 10 },
          rooms: { lobby: true, 'doc:{a}.{b}.{c}.{d}': true },
        }),
      ],
      providers: [OrdersFixture, OrderRooms, AttackRooms, RoomsChatGateway],
    });
    orders = started.app.get(OrdersFixture);
  });
  after(async () => {
    for (const socket of sockets) socket.close();
    await started.close();
  });
  beforeEach(() => {
    orders.shares.clear();
    orders.delay = 0;
    orders.calls.length = 0;
    AttackRooms.delay = 0;
    AttackRooms.reasons.length = 0;
  });

  async function open(sub: string, claims: Record<string, unknown> = {}): Promise<Socket> {
    const uuid = await ticketFor(started.url, signJwt({ sub, ...claims }));
    const socket = await connected(`${started.url}/chat`, { auth: { uuid } });
    sockets.push(socket);
    return socket;
  }
  const join = (socket: Socket, payload: unknown) =>
    ask<WsTicketRoomAck>(socket, 'ws-ticket:join', payload);
  const isIn = (socket: Socket, room: string) => ask<boolean>(socket, 'in', room);

  it(
    'matches a room against a pattern of several parameters in linear time: hostile names never stall the event loop',
    BOUNDED,
    async () => {
      const socket = await open('1');
      // Every character the pattern's separators and parameters both take, and no match at the end.
      const room = `doc:${'.'.repeat(195)}:`;
      const delay = monitorEventLoopDelay({ resolution: 10 });
      delay.enable();
      const startedAt = performance.now();
      for (let i = 0; i < 3; i++) {
        assert.deepEqual(await join(socket, { room }), { ok: false, room, code: 'room_forbidden' });
      }
      const took = performance.now() - startedAt;
      delay.disable();
      // Three refusals of a 200-character name: a few milliseconds of work, whatever the name.
      assert.ok(took < 100, `3 joins took ${Math.round(took)} ms`);
      assert.ok(
        delay.max / 1e6 < 50,
        `the event loop stalled ${Math.round(delay.max / 1e6)} ms on one join`,
      );
    },
  );

  it(
    'keeps counting join attempts when the client leaves and re-enters the namespace on the same connection',
    BOUNDED,
    async () => {
      const uuid = await ticketFor(started.url, signJwt({ sub: '2' }));
      const raw = await RawEngineIo.open(started.url);
      try {
        let admitted = 0;
        let id = 0;
        // One ticket, one transport: the handshake shares the ticket's consumption for 10 s.
        for (let cycle = 0; cycle < 4; cycle++) {
          const answer = await raw.connect('/chat', { uuid });
          assert.equal(answer.ok, true, `cycle ${cycle}: CONNECT refused`);
          for (let i = 0; i < 10; i++) {
            const ack = await rawJoin(raw, '/chat', id++, 'order:1');
            if (ack.ok || ack.code !== 'rate_limited') admitted++;
          }
          raw.leave('/chat');
          await sleep(50);
        }
        // roomJoinLimit is 5 per 10 s: 40 attempts in well under 10 s get 5 rule calls at most.
        assert.ok(
          orders.calls.length <= 5,
          `${orders.calls.length} rule calls (${admitted} attempts not rate_limited) from one ticket in one window`,
        );
      } finally {
        raw.close();
      }
    },
  );

  it(
    'a join whose rule ran for the user before a refresh does not outlive the refresh that re-checks its rooms',
    BOUNDED,
    async () => {
      const socket = await open('3', { plan: 'premium' });
      // The same user, downgraded: the refresh resolves it again without the premium plan.
      const downgraded = await ticketFor(started.url, signJwt({ sub: '3' }));
      AttackRooms.delay = 300;
      const joining = join(socket, { room: 'vip:1' });
      await until(() => AttackRooms.reasons.length === 1, 'the join rule runs');
      const refreshed = await ask<{ ok: boolean }>(socket, 'ws-ticket:refresh', {
        uuid: downgraded,
      });
      assert.equal(refreshed.ok, true);
      await joining;
      await sleep(50);
      // Asked about the refreshed user now, the rule refuses vip:1.
      AttackRooms.delay = 0;
      assert.equal((await join(socket, { room: 'vip:2' })).ok, false);
      assert.equal(await isIn(socket, 'vip:1'), false);
    },
  );

  it("never lets a client's leave undo a room the server joined it to", BOUNDED, async () => {
    const socket = await open('4');
    assert.equal(await ask(socket, 'server-join', 'lobby'), true);
    // lobby admits everyone, so the client may ask to join it too, and then to leave it.
    assert.deepEqual(await join(socket, { room: 'lobby' }), { ok: true, room: 'lobby' });
    assert.deepEqual(await ask(socket, 'ws-ticket:leave', { room: 'lobby' }), {
      ok: true,
      room: 'lobby',
    });
    assert.equal(await isIn(socket, 'lobby'), true);
  });
});

describe('Room attacks on Socket.IO connection-state recovery (/rec)', () => {
  let started: StartedApp;
  let rooms: WsTicketRooms;
  let orders: OrdersFixture;
  const sockets: Socket[] = [];

  before(async () => {
    started = await startOn('express')({
      imports: [roomsModule({ callbackTimeout: 2000 })],
      providers: [OrdersFixture, OrderRooms, AttackRooms, RecoveryRoomsGateway],
    });
    rooms = started.app.get(WsTicketRooms);
    orders = started.app.get(OrdersFixture);
  });
  after(async () => {
    for (const socket of sockets) socket.close();
    await started.close();
  });
  beforeEach(() => {
    orders.shares.clear();
    orders.delay = 0;
    orders.calls.length = 0;
    AttackRooms.delay = 0;
    AttackRooms.reasons.length = 0;
  });

  const ticketOf = (sub: string, claims: Record<string, unknown> = {}) =>
    ticketFor(started.url, signJwt({ sub, ...claims }));

  /**
   * A socket that reconnects (and so recovers) on its own, each handshake with the ticket that
   * `ticket(n)` resolves for the n-th one (0: the first connection).
   */
  async function recovering(ticket: (handshake: number) => Promise<string>): Promise<Socket> {
    let handshakes = 0;
    const socket = io(`${started.url}/rec`, {
      transports: ['websocket'],
      forceNew: true,
      reconnectionDelay: 50,
      reconnectionDelayMax: 50,
      auth: (cb) => {
        void ticket(handshakes++).then(
          (uuid) => cb({ uuid }),
          () => cb({}),
        );
      },
    });
    sockets.push(socket);
    const first = await outcome(socket);
    assert.equal(first.ok, true, 'first connection refused');
    return socket;
  }

  /** A promise and what settles it: what holds the tickets of a reconnection back. */
  function gate(): { opened: Promise<void>; open: () => void } {
    let open: () => void = () => {};
    const opened = new Promise<void>((resolve) => {
      open = resolve;
    });
    return { opened, open };
  }

  /** Drops the transport (the session stays recoverable) and resolves once it is down. */
  async function drop(socket: Socket): Promise<void> {
    const ticked = next(socket, 'tick');
    const disconnected = next(socket, 'disconnect');
    socket.emit('drop');
    await ticked;
    await disconnected;
  }

  it(
    'restores a recoverable session once: disconnectUser reaches its user through a second connection that restored it too',
    BOUNDED,
    async () => {
      const raws: RawEngineIo[] = [];
      const rawOpen = async () => {
        const raw = await RawEngineIo.open(started.url);
        raws.push(raw);
        return raw;
      };
      try {
        // The user's first connection, dropped after a broadcast: a session to restore, and its offset.
        const first = await rawOpen();
        const from = first.packets.length;
        first.send(`40/rec,${JSON.stringify({ uuid: await ticketOf('10') })}`);
        const connect = await first.until((packet) => packet.startsWith('40/rec,'), from);
        const { pid } = JSON.parse(String(connect).slice('40/rec,'.length)) as { pid: string };
        first.send('42/rec,["drop"]');
        const tick = await first.until((packet) => packet.startsWith('42/rec,["tick"'), from);
        const [, offset] = JSON.parse(String(tick).slice('42/rec,'.length)) as [string, string];
        await first.whenClosed();
        // Restored twice, each time with a fresh ticket of the same user; the second connection
        // also carries another user's namespace (one client, two accounts).
        const one = await rawOpen();
        assert.equal(
          (await one.connect('/rec', { uuid: await ticketOf('10'), pid, offset })).ok,
          true,
        );
        const two = await rawOpen();
        assert.equal((await two.connect('/', { uuid: await ticketOf('11') })).ok, true);
        const again = await two.connect('/rec', { uuid: await ticketOf('10'), pid, offset });
        assert.equal(again.ok, true);
        one.close();
        await sleep(100);
        await started.app.get(WsTicketService).disconnectUser('10');
        await sleep(100);
        // Whatever answers on the second connection now must not be user 10.
        const asked = two.packets.length;
        two.send('42/rec,7["whoami"]');
        const answer = await two
          .until((packet) => packet.startsWith('43/rec,7'), asked, 1000)
          .catch(() => undefined);
        assert.equal(answer, undefined, `a revoked user's socket answered: ${answer}`);
      } finally {
        for (const raw of raws) raw.close();
      }
    },
  );

  it(
    'restores a recoverable session once: removeFromRoom still takes out the socket that restored it last',
    BOUNDED,
    async () => {
      const raws: RawEngineIo[] = [];
      const rawOpen = async () => {
        const raw = await RawEngineIo.open(started.url);
        raws.push(raw);
        return raw;
      };
      try {
        const first = await rawOpen();
        const from = first.packets.length;
        first.send(`40/rec,${JSON.stringify({ uuid: await ticketOf('12') })}`);
        const connect = await first.until((packet) => packet.startsWith('40/rec,'), from);
        const { pid } = JSON.parse(String(connect).slice('40/rec,'.length)) as { pid: string };
        first.send('42/rec,["drop"]');
        const tick = await first.until((packet) => packet.startsWith('42/rec,["tick"'), from);
        const [, offset] = JSON.parse(String(tick).slice('42/rec,'.length)) as [string, string];
        await first.whenClosed();
        // One account, two connections restoring the same session; the first goes away.
        const one = await rawOpen();
        assert.equal(
          (await one.connect('/rec', { uuid: await ticketOf('12'), pid, offset })).ok,
          true,
        );
        const two = await rawOpen();
        assert.equal(
          (await two.connect('/rec', { uuid: await ticketOf('12'), pid, offset })).ok,
          true,
        );
        one.close();
        await sleep(100);
        const asked = two.packets.length;
        two.send('42/rec,1["ws-ticket:join",{"room":"lobby"}]');
        await two.until((packet) => packet.startsWith('43/rec,1'), asked);
        await rooms.removeFromRoom('12', 'lobby');
        two.send('42/rec,2["in","lobby"]');
        const inLobby = await two.until((packet) => packet.startsWith('43/rec,2'), asked);
        assert.equal(inLobby, '43/rec,2[false]', 'has() still admits the removed socket to lobby');
      } finally {
        for (const raw of raws) raw.close();
      }
    },
  );

  it(
    'a removal made while a recovered socket is re-checked takes it out of the room like a join racing it',
    BOUNDED,
    async () => {
      orders.share('1', '2');
      const socket = await recovering(() => ticketOf('2'));
      const id = socket.id;
      assert.deepEqual(await ask(socket, 'ws-ticket:join', { room: 'order:1' }), {
        ok: true,
        room: 'order:1',
      });
      orders.delay = 300;
      const reconnected = next(socket, 'connect');
      await drop(socket);
      // The recovery's re-check read the grant and is answering; the app revokes and removes now.
      await until(
        () => orders.calls.some((call) => call.reason === 'recovery'),
        'the recovery re-check runs',
      );
      orders.unshare('1', '2');
      await rooms.removeFromRoom('2', 'order:1');
      await reconnected;
      assert.equal(socket.id, id, 'the session was not restored');
      let heard = 0;
      socket.on('secret', () => heard++);
      await rooms.to('order:1').emit('secret', { order: 1 });
      await sleep(100);
      assert.equal(heard, 0, 'a room message reached the removed user');
      assert.equal(await ask(socket, 'in', 'order:1'), false);
    },
  );

  it(
    'a removal made while the socket was away is not undone by its recovery, nor are the messages sent to the room since delivered',
    BOUNDED,
    async () => {
      const tickets = gate();
      const socket = await recovering(async (handshake) => {
        if (handshake > 0) await tickets.opened;
        return ticketOf('6');
      });
      const id = socket.id;
      assert.equal(await ask(socket, 'server-join', 'team:1'), true);
      assert.equal(await ask(socket, 'in', 'team:1'), true);
      const reconnected = next(socket, 'connect');
      await drop(socket);
      // Away: the app takes the user out of the room, then talks in it.
      await rooms.removeFromRoom('6', 'team:1');
      await rooms.to('team:1').emit('secret', { after: 'removal' });
      let heard = 0;
      socket.on('secret', () => heard++);
      tickets.open();
      await reconnected;
      assert.equal(socket.id, id, 'the session was not restored');
      await sleep(100);
      assert.equal(heard, 0, 'a message sent to the room after the removal was delivered');
      assert.equal(await ask(socket, 'in', 'team:1'), false);
    },
  );

  it(
    'a socket dropped while its refresh re-check runs comes back without the rooms that re-check refused',
    BOUNDED,
    async () => {
      const tickets = gate();
      // Premium at first; every later ticket (the refresh, the recovery) is the downgraded user's.
      const socket = await recovering(async (handshake) => {
        if (handshake > 0) await tickets.opened;
        return ticketOf('7', handshake === 0 ? { plan: 'premium' } : {});
      });
      const id = socket.id;
      assert.deepEqual(await ask(socket, 'ws-ticket:join', { room: 'vip:1' }), {
        ok: true,
        room: 'vip:1',
      });
      AttackRooms.delay = 300;
      AttackRooms.reasons.length = 0;
      const refreshed = await ask<{ ok: boolean }>(socket, 'ws-ticket:refresh', {
        uuid: await ticketOf('7'),
      });
      assert.equal(refreshed.ok, true);
      // The refresh's re-check of vip:1 is running: the client drops its transport now.
      assert.deepEqual(AttackRooms.reasons, ['refresh']);
      const reconnected = next(socket, 'connect');
      await drop(socket);
      // The re-check answers no, for a socket that is gone; then the client comes back.
      await sleep(400);
      AttackRooms.delay = 0;
      tickets.open();
      await reconnected;
      assert.equal(socket.id, id, 'the session was not restored');
      const vip2 = await ask<WsTicketRoomAck>(socket, 'ws-ticket:join', { room: 'vip:2' });
      assert.equal(vip2.ok, false, 'the recovered user is still premium');
      assert.equal(await ask(socket, 'in', 'vip:1'), false);
    },
  );
});

describe('Namespace sockets per connection (/chat)', () => {
  let started: StartedApp;
  let adapter: CapturingIoAdapter;

  before(async () => {
    started = await startOn('express')(
      {
        imports: [roomsModule()],
        providers: [OrdersFixture, OrderRooms, RoomsChatGateway],
      },
      {
        adapter: (app) => {
          adapter = new CapturingIoAdapter(app);
          return adapter;
        },
      },
    );
  });
  after(() => started.close());

  it(
    'holds one socket per namespace on a connection, however the client overlaps its CONNECTs',
    BOUNDED,
    async () => {
      const chat = () => (adapter.server as Server).of('/chat');
      const uuid = await ticketFor(started.url, signJwt({ sub: '8' }));
      const raw = await RawEngineIo.open(started.url);
      let most = 0;
      try {
        // Two CONNECTs back to back, both answered, then a DISCONNECT: one ticket, one transport.
        for (let cycle = 0; cycle < 20 && !raw.closed; cycle++) {
          const from = raw.packets.length;
          raw.send(`40/chat,${JSON.stringify({ uuid })}`);
          raw.send(`40/chat,${JSON.stringify({ uuid })}`);
          await raw.until(
            () => raw.packets.slice(from).filter((packet) => packet.startsWith('4')).length >= 2,
            from,
          );
          most = Math.max(most, chat().sockets.size);
          raw.leave('/chat');
          await sleep(20);
        }
      } finally {
        raw.close();
      }
      assert.ok(most <= 1, `${most} sockets of one connection in /chat`);
    },
  );
});

describe('Room attacks on raw WebSockets (/ws/rooms)', () => {
  let started: StartedWsApp;
  const sockets: WebSocket[] = [];

  before(async () => {
    started = await startWsApp({
      imports: [roomsModule({ callbackTimeout: 2000 })],
      providers: [OrdersFixture, OrderRooms, AttackRooms, RoomsWsGateway],
    });
  });
  after(async () => {
    for (const ws of sockets) ws.terminate();
    await started.close();
  });
  beforeEach(() => {
    AttackRooms.delay = 0;
    AttackRooms.reasons.length = 0;
  });

  async function open(sub: string, claims: Record<string, unknown> = {}): Promise<WebSocket> {
    const uuid = await ticketFor(started.url, signJwt({ sub, ...claims }));
    const ws = await openedWs(`${started.wsUrl}/ws/rooms?uuid=${uuid}`);
    sockets.push(ws);
    return ws;
  }

  it(
    'a join whose rule ran for the user before a refresh does not outlive the refresh that re-checks its rooms',
    BOUNDED,
    async () => {
      const ws = await open('3', { plan: 'premium' });
      const downgraded = await ticketFor(started.url, signJwt({ sub: '3' }));
      AttackRooms.delay = 300;
      const joining = askWs<WsTicketRoomAck>(ws, 'ws-ticket:join', { room: 'vip:1' });
      await until(() => AttackRooms.reasons.length === 1, 'the join rule runs');
      const refreshed = await askWs<{ ok: boolean }>(ws, 'ws-ticket:refresh', {
        uuid: downgraded,
      });
      assert.equal(refreshed.ok, true);
      await joining;
      AttackRooms.delay = 0;
      assert.equal(
        (await askWs<WsTicketRoomAck>(ws, 'ws-ticket:join', { room: 'vip:2' })).ok,
        false,
      );
      assert.equal(await askWs(ws, 'in', 'vip:1'), false);
    },
  );
});
