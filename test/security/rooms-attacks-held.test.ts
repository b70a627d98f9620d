import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import type { WebSocket } from 'ws';
import { type WsTicketRoomAck, WsTicketRooms, WsTicketService } from '../../lib/index.js';
import { roomsInternals } from '../../lib/rooms/ws-ticket-rooms.js';
import {
  OrderRooms,
  OrdersFixture,
  RoomsChatGateway,
  roomsModule,
} from '../rooms/fixtures/rooms-app.js';
import { RoomsWsGateway } from '../rooms/fixtures/rooms-ws-gateway.js';
import { type StartedApp, startOn, ticketFor } from '../support/app.js';
import { RawEngineIo } from '../support/engine-io.js';
import { signJwt } from '../support/jwt.js';
import { ask, next, outcome } from '../support/sockets.js';
import { ask as askWs, openedWs, type StartedWsApp, startWsApp } from '../ws/fixtures/ws-app.js';
import { RecoveryRoomsGateway } from './fixtures/rooms-attacks-app.js';

/** Bounds every wait of a test (fetch and socket helpers have no bound of their own). */
const BOUNDED = { timeout: 30_000 };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The ack of the event packet `42<nsp>,<id>[…]` sent as is; `undefined` if none came in time. */
async function rawAsk(
  raw: RawEngineIo,
  namespace: string,
  id: number,
  packet: string,
  timeout = 2000,
): Promise<unknown> {
  const from = raw.packets.length;
  raw.send(packet);
  const answer = await raw
    .until((received) => received.startsWith(`43${namespace},${id}[`), from, timeout)
    .catch(() => undefined);
  if (answer === undefined) return undefined;
  return (JSON.parse(answer.slice(`43${namespace},${id}`.length)) as unknown[])[0];
}

const joinPacket = (id: number, payload: unknown) =>
  `42/chat,${id}${JSON.stringify(['ws-ticket:join', payload])}`;

describe('Room attacks that hold on Socket.IO (/chat, raw engine.io frames)', () => {
  let started: StartedApp;
  let rooms: WsTicketRooms;
  let orders: OrdersFixture;
  const raws: RawEngineIo[] = [];

  before(async () => {
    started = await startOn('express')({
      imports: [roomsModule({ callbackTimeout: 300, roomJoinLimit: { limit: 20, window: 10 } })],
      providers: [OrdersFixture, OrderRooms, RoomsChatGateway],
    });
    rooms = started.app.get(WsTicketRooms);
    orders = started.app.get(OrdersFixture);
  });
  after(async () => {
    for (const raw of raws) raw.close();
    await started.close();
  });
  beforeEach(() => {
    orders.shares.clear();
    orders.delay = 0;
    orders.calls.length = 0;
  });

  /** A raw connection in /chat as `sub`; resolves it and its socket id. */
  async function enter(sub: string): Promise<{ raw: RawEngineIo; sid: string; uuid: string }> {
    const uuid = await ticketFor(started.url, signJwt({ sub }));
    const raw = await RawEngineIo.open(started.url);
    raws.push(raw);
    const answer = await raw.connect('/chat', { uuid });
    if (!answer.ok) throw new Error('CONNECT refused');
    return { raw, sid: answer.sid, uuid };
  }

  it(
    'answers reserved and malformed rooms in raw frames with their code and asks no rule: user rooms, socket ids, binary, odd JSON',
    BOUNDED,
    async () => {
      const alice = await enter('1');
      const bob = await enter('2');
      let id = 0;
      const forbidden = (room: string) => ({ ok: false, room, code: 'room_forbidden' });
      const malformed = (room: string | null) => ({ ok: false, room, code: 'room_malformed' });
      // Payloads as the JSON an attacker writes by hand.
      const cases: Array<[string, unknown]> = [
        ['{"room":"ws-ticket:user:1"}', forbidden('ws-ticket:user:1')],
        ['{"room":"ws-ticket:user:2"}', forbidden('ws-ticket:user:2')],
        ['{"room":"ws-ticket:"}', forbidden('ws-ticket:')],
        [`{"room":"${alice.sid}"}`, forbidden(alice.sid)],
        [`{"room":"${bob.sid}"}`, forbidden(bob.sid)],
        ['{"room":["lobby"]}', malformed(null)],
        ['{"room":{"toString":"lobby"}}', malformed(null)],
        ['{"__proto__":{"room":"lobby"}}', malformed(null)],
        ['{"room":"lobby\\n"}', malformed('lobby\n')],
        [`{"room":"${'a'.repeat(100_000)}"}`, malformed(null)],
        ['42', malformed(null)],
      ];
      for (const [payload, expected] of cases) {
        const packet = `42/chat,${id}["ws-ticket:join",${payload}]`;
        assert.deepEqual(await rawAsk(alice.raw, '/chat', id++, packet), expected, payload);
      }
      // A binary attachment where the room goes.
      const from = alice.raw.packets.length;
      alice.raw.send(`451-/chat,${id}["ws-ticket:join",{"room":{"_placeholder":true,"num":0}}]`);
      alice.raw.socket.send(Buffer.from('lobby'));
      const binary = await alice.raw.until((packet) => packet.startsWith(`43/chat,${id}[`), from);
      assert.deepEqual(JSON.parse(String(binary).slice(`43/chat,${id}`.length)), [
        { ok: false, room: null, code: 'room_malformed' },
      ]);
      assert.equal(orders.calls.length, 0);
      // Leaving the module's rooms is refused too, and revocation still reaches the socket.
      assert.deepEqual(
        await rawAsk(
          alice.raw,
          '/chat',
          99,
          `42/chat,99["ws-ticket:leave",{"room":"ws-ticket:user:1"}]`,
        ),
        { ok: false, room: 'ws-ticket:user:1', code: 'room_forbidden' },
      );
      assert.deepEqual(
        await rawAsk(
          alice.raw,
          '/chat',
          98,
          `42/chat,98["ws-ticket:leave",{"room":"${alice.sid}"}]`,
        ),
        { ok: false, room: alice.sid, code: 'room_forbidden' },
      );
      await started.app.get(WsTicketService).disconnectUser('1');
      await alice.raw.whenClosed();
      assert.equal(alice.raw.closed, true);
    },
  );

  it(
    'closes a transport that sends a join for a namespace it has not entered',
    BOUNDED,
    async () => {
      const raw = await RawEngineIo.open(started.url);
      raws.push(raw);
      raw.send(joinPacket(1, { room: 'lobby' }));
      await raw.whenClosed();
      assert.equal(raw.closed, true);
      assert.equal(orders.calls.length, 0);
    },
  );

  it(
    'a join answered after its socket left the namespace joins nothing, even when the client re-entered at once',
    BOUNDED,
    async () => {
      orders.share('1', '3');
      orders.delay = 150;
      const { raw, uuid } = await enter('3');
      raw.send(joinPacket(1, { room: 'order:1' }));
      raw.leave('/chat');
      await sleep(50);
      // Back in at once with the same ticket (its consumption is shared on the transport).
      assert.equal((await raw.connect('/chat', { uuid })).ok, true);
      await sleep(250);
      assert.equal(await rawAsk(raw, '/chat', 2, '42/chat,2["in","order:1"]'), false);
      assert.equal(roomsInternals(rooms).joins.pendingCount, 0);
    },
  );

  it(
    'client-sent ws-ticket:left and unknown ws-ticket:* events reach no handler and answer nothing',
    BOUNDED,
    async () => {
      const { raw } = await enter('4');
      for (const event of ['ws-ticket:left', 'ws-ticket:room-leave', 'ws-ticket:revoke']) {
        assert.equal(
          await rawAsk(raw, '/chat', 3, `42/chat,3["${event}",{"room":"lobby","code":"x"}]`, 300),
          undefined,
        );
      }
      assert.equal(await rawAsk(raw, '/chat', 4, '42/chat,4["in","lobby"]'), false);
      assert.equal(raw.closed, false);
    },
  );

  it(
    'floods of leaves and of joins of a rule that hangs keep the pending index at the rate limit',
    BOUNDED,
    async () => {
      const { raw } = await enter('5');
      for (let i = 0; i < 2000; i++) raw.send(`42/chat,["ws-ticket:leave",{"room":"lobby${i}"}]`);
      for (let i = 0; i < 200; i++) raw.send(joinPacket(i, { room: `hang:${i}` }));
      await sleep(100);
      assert.ok(roomsInternals(rooms).joins.pendingCount <= 20);
      // Answered room_unavailable (20) or rate_limited (180), each once.
      await raw.until(() => raw.packets.filter((p) => p.startsWith('43/chat,')).length >= 200);
      const acks = raw.packets.filter((p) => p.startsWith('43/chat,'));
      assert.equal(acks.filter((p) => p.includes('room_unavailable')).length, 20);
      assert.equal(roomsInternals(rooms).joins.pendingCount, 0);
      assert.equal(raw.closed, false);
    },
  );
});

describe('Room attacks that hold on Socket.IO recovery (/rec)', () => {
  let started: StartedApp;
  let orders: OrdersFixture;
  const sockets: Socket[] = [];

  before(async () => {
    started = await startOn('express')({
      imports: [roomsModule({ callbackTimeout: 2000 })],
      providers: [OrdersFixture, OrderRooms, RecoveryRoomsGateway],
    });
    orders = started.app.get(OrdersFixture);
  });
  after(async () => {
    for (const socket of sockets) socket.close();
    await started.close();
  });

  it(
    'a join answered after its socket dropped joins nothing on the socket that recovered its id',
    BOUNDED,
    async () => {
      orders.share('1', '2');
      const token = signJwt({ sub: '2' });
      const socket = io(`${started.url}/rec`, {
        transports: ['websocket'],
        forceNew: true,
        reconnectionDelay: 20,
        reconnectionDelayMax: 20,
        auth: (cb) => {
          void ticketFor(started.url, token).then((uuid) => cb({ uuid }));
        },
      });
      sockets.push(socket);
      assert.equal((await outcome(socket)).ok, true);
      const id = socket.id;
      orders.delay = 400;
      const ticked = next(socket, 'tick');
      const reconnected = next(socket, 'connect');
      socket.emit('ws-ticket:join', { room: 'order:1' });
      socket.emit('drop');
      await ticked;
      await reconnected;
      assert.equal(socket.recovered, true);
      assert.equal(socket.id, id);
      await sleep(500);
      assert.equal(await ask(socket, 'in', 'order:1'), false);
    },
  );
});

describe('Room attacks that hold on raw WebSockets (/ws/rooms)', () => {
  let started: StartedWsApp;
  let orders: OrdersFixture;
  const sockets: WebSocket[] = [];

  before(async () => {
    started = await startWsApp({
      imports: [roomsModule({ callbackTimeout: 2000 })],
      providers: [OrdersFixture, OrderRooms, RoomsWsGateway],
    });
    orders = started.app.get(OrdersFixture);
  });
  after(async () => {
    for (const ws of sockets) ws.terminate();
    await started.close();
  });

  async function open(sub: string): Promise<WebSocket> {
    const uuid = await ticketFor(started.url, signJwt({ sub }));
    const ws = await openedWs(`${started.wsUrl}/ws/rooms?uuid=${uuid}`);
    sockets.push(ws);
    return ws;
  }

  it(
    'frames that spell the event another way, or come binary, join nothing and reach no gateway handler',
    BOUNDED,
    async () => {
      const ws = await open('1');
      ws.send('{"event":"ws-ticket\\u003ajoin","data":{"room":"lobby"}}');
      ws.send(Buffer.from('{"event":"ws-ticket:join","data":{"room":"lobby"}}'), { binary: true });
      ws.send('{"event":"ws-ticket:left","data":{"room":"lobby","code":"x"}}');
      await sleep(100);
      assert.equal(await askWs(ws, 'in', 'lobby'), false);
      assert.equal(await askWs(ws, 'in', 'ws-ticket:user:1'), false);
      assert.deepEqual(
        await askWs<WsTicketRoomAck>(ws, 'ws-ticket:join', { room: 'ws-ticket:user:1' }),
        {
          ok: false,
          room: 'ws-ticket:user:1',
          code: 'room_forbidden',
        },
      );
    },
  );

  it(
    'a join answered after the server closed the socket joins nothing and leaves no registry entry',
    BOUNDED,
    async () => {
      orders.share('1', '2');
      orders.delay = 200;
      const ws = await open('2');
      ws.send(JSON.stringify({ event: 'ws-ticket:join', data: { room: 'order:1' } }));
      const closed = new Promise((resolve) => ws.once('close', resolve));
      await started.app.get(WsTicketService).disconnectUser('2');
      await closed;
      await sleep(300);
      assert.equal(
        (started.adapter as unknown as { rooms: { size: number } }).rooms.size,
        0,
        'a room of a closed socket stayed in the registry',
      );
    },
  );
});
