import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { INestApplication } from '@nestjs/common';
import type { Server, Socket as ServerSocket } from 'socket.io';
import type { Socket } from 'socket.io-client';
import { WebSocket } from 'ws';
import type { WsTicketModuleOptions, WsTicketRoomAck, WsTicketRoomRules } from '../../lib/index.js';
import type { RoomJoins } from '../../lib/rooms/room-joins.js';
import type { WsTicketSocketData } from '../../lib/ws-ticket-session.js';
import { type StartedApp, startApp, ticketFor } from '../support/app.js';
import { CapturingIoAdapter } from '../support/internals.js';
import { signJwt } from '../support/jwt.js';
import { connected } from '../support/sockets.js';
import { openedWs, type StartedWsApp, startWsApp } from '../ws/fixtures/ws-app.js';
import { FrameLog } from './fixtures/frame-log.js';
import { RoomsChatGateway, type RoomUser, roomsModule } from './fixtures/rooms-app.js';
import {
  pendingRoomsOf,
  roomJoinsOf,
  wsJoinedOf,
  wsRegistryOf,
  wsRoomsOf,
} from './fixtures/rooms-internals.js';
import { RoomsWsGateway } from './fixtures/rooms-ws-gateway.js';
import { eventually, sleep, withDeadline } from './fixtures/waits.js';

// Bounded state under a flood of room requests from one socket: 10k join attempts (allowed,
// refused, malformed, reserved, slow, repeated, with leaves between) keep the socket's rooms at
// maxRoomsPerSocket, the index of joins in flight returns to 0, the transports' room registries
// are empty once the sockets close, and the socket stays usable. Structure sizes only: memory
// and time are `npm run bench`'s. The HTTP platform plays no part: Express.

const ATTEMPTS = 10_000;
const BATCH = 500;
const CAP = 25;

const JOIN = 'ws-ticket:join';
const LEAVE = 'ws-ticket:leave';

/** The n-th request of the flood: ten join attempts of every kind, and a leave every fifth. */
function requestsAt(i: number): Array<{ event: string; payload: unknown }> {
  const round = Math.floor(i / 10);
  const kinds: unknown[] = [
    { room: `open:${i % 300}` },
    { room: `open:${(i * 7) % 300}` },
    { room: `slow:${i % 60}` },
    { room: `slow:${(i * 3) % 60}` },
    { room: `deny:${i}` },
    { room: `nothing:${i}` },
    [{ room: `bad room ${i}` }, `open:${i}`, null, { room: 'x'.repeat(300) }][round % 4],
    { room: round % 2 ? `ws-ticket:user:${i}` : `${'A'.repeat(15)}${String(i).padStart(5, '0')}` },
    { room: 'lobby' },
    { room: `open:${i % 300}` },
  ];
  const requests = [{ event: JOIN, payload: kinds[i % kinds.length] }];
  if (i % 5 === 4) requests.push({ event: LEAVE, payload: { room: `open:${(i * 13) % 300}` } });
  return requests;
}

/** Codes a flood below the attempt limit may meet. */
const FLOOD_CODES = new Set(['room_limit', 'room_forbidden', 'room_malformed']);

/** What the `slow:*` rule saw of the joins in flight, at its busiest. */
interface InFlight {
  /** Joins in flight (entries of the index), every user. */
  mostPending: number;
  /** Rooms one socket held: joined, or the room of a join in flight. */
  mostHeld: number;
  /** The rooms a user's (only) socket joined, once the test knows its server side. */
  joinedBy?: ((userId: string) => Iterable<string>) | undefined;
}

/** A rules set whose `slow:*` rule records the joins in flight while it runs. */
function floodRules(joins: () => RoomJoins | undefined, seen: InFlight) {
  const rules: WsTicketRoomRules<RoomUser> = {
    lobby: true,
    'open:{n}': true,
    'deny:{n}': () => false,
    'slow:{n}': async (_user, _params, { userId }) => {
      const index = joins();
      if (index) {
        seen.mostPending = Math.max(seen.mostPending, index.pendingCount);
        const inFlight = pendingRoomsOf(index, userId);
        const held = new Set([...inFlight, ...(seen.joinedBy?.(userId) ?? [])]);
        seen.mostHeld = Math.max(seen.mostHeld, held.size);
      }
      await sleep(2);
      return true;
    },
    // Answers after its socket closed, in the tests that close it.
    'late:{n}': async () => {
      await sleep(100);
      return true;
    },
  };
  return rules;
}

/** Tallies the answers of a flood by outcome, checking each one's shape. */
class Tally {
  readonly counts = new Map<string, number>();

  add(answer: unknown): void {
    const ack = answer as WsTicketRoomAck;
    assert.ok(typeof ack === 'object' && ack !== null, `not an answer: ${String(answer)}`);
    const key = ack.ok ? 'ok' : ack.code;
    assert.ok(key === 'ok' || FLOOD_CODES.has(key), `unexpected answer ${JSON.stringify(ack)}`);
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  total(): number {
    let total = 0;
    for (const count of this.counts.values()) total += count;
    return total;
  }
}

const limits = (
  joins: () => RoomJoins | undefined,
  seen: InFlight,
): Partial<WsTicketModuleOptions<RoomUser>> => ({
  rooms: floodRules(joins, seen),
  maxRoomsPerSocket: CAP,
  // Out of the way: the flood is about the room cap (the limit has its own test below).
  roomJoinLimit: { limit: 10 * ATTEMPTS, window: 600 },
});

describe('Room state under 10k join attempts from one Socket.IO socket', () => {
  let started: StartedApp;
  let adapter: CapturingIoAdapter;
  let joins: RoomJoins | undefined;
  const seen: InFlight = { mostPending: 0, mostHeld: 0 };

  before(async () => {
    started = await startApp(
      {
        imports: [roomsModule(limits(() => joins, seen))],
        providers: [RoomsChatGateway],
      },
      {
        adapter: (app) => {
          adapter = new CapturingIoAdapter(app);
          return adapter;
        },
      },
    );
    joins = roomJoinsOf(started.app);
  });
  after(() => started.close());

  const namespace = () => (adapter.server as Server).of('/chat');

  /** The rooms a server-side socket is in, but its own id room and its user's room. */
  const roomsOf = (socket: ServerSocket) =>
    [...socket.rooms].filter((room) => room !== socket.id && !room.startsWith('ws-ticket:user:'));

  it(`keeps the socket at ${CAP} rooms, empties the index of joins in flight, and the socket lives`, async () => {
    const uuid = await ticketFor(started.url, signJwt({ sub: '1' }));
    const client: Socket = await connected(`${started.url}/chat`, { auth: { uuid } });
    const tally = new Tally();
    try {
      const server = namespace().sockets.get(client.id as string);
      assert.ok(server, 'the server-side socket');
      const data = server.data as Partial<WsTicketSocketData>;
      seen.joinedBy = () => data.wsTicketRooms ?? [];
      let sent = 0;
      for (let start = 0; start < ATTEMPTS; start += BATCH) {
        const answers: Array<Promise<unknown>> = [];
        for (let i = start; i < start + BATCH; i++) {
          for (const { event, payload } of requestsAt(i)) {
            answers.push(client.timeout(10_000).emitWithAck(event, payload));
            sent += 1;
          }
        }
        for (const answer of await withDeadline(Promise.all(answers), 20_000, 'a batch')) {
          tally.add(answer);
        }
        // Every join answered: nothing is in flight.
        assert.equal(joins?.pendingCount, 0, 'joins in flight after their answers');
        const joined = data.wsTicketRooms ?? [];
        assert.ok(joined.length <= CAP, `${joined.length} rooms joined on request`);
        // The transport's rooms are the ones joined on request, no more.
        assert.deepEqual(roomsOf(server).sort(), [...joined].sort());
      }
      assert.equal(tally.total(), sent, 'one answer per request');
      assert.ok((tally.counts.get('room_limit') ?? 0) > 0, 'the cap was never reached');
      assert.ok((tally.counts.get('ok') ?? 0) > CAP, 'joins and leaves churned');
      assert.ok(seen.mostPending > 1, 'joins were in flight together');
      // Joins of one room in flight hold one place: the rooms they hold count against the cap.
      assert.ok(seen.mostHeld <= CAP, `${seen.mostHeld} rooms held by one socket`);
      // Alive and usable.
      assert.equal(client.connected, true);
      assert.equal(
        await client.timeout(5000).emitWithAck('in', 'lobby'),
        (data.wsTicketRooms ?? []).includes('lobby'),
      );
    } finally {
      client.close();
    }
    await eventually(
      () => namespace().adapter.rooms.size === 0 && namespace().adapter.sids.size === 0,
      () => `rooms left after the close: ${[...namespace().adapter.rooms.keys()].join(', ')}`,
    );
    assert.equal(joins?.pendingCount, 0);
  });

  it('a socket that closes with joins in flight leaves no room and no join behind', async () => {
    const uuid = await ticketFor(started.url, signJwt({ sub: '3' }));
    const client: Socket = await connected(`${started.url}/chat`, { auth: { uuid } });
    for (let i = 0; i < CAP; i++) client.emit(JOIN, { room: `late:${i}` });
    await eventually(() => (joins?.pendingCount ?? 0) === CAP, 'the joins in flight');
    client.close();
    await eventually(() => joins?.pendingCount === 0, 'the joins answered');
    assert.equal(namespace().adapter.rooms.size, 0, [...namespace().adapter.rooms.keys()].join());
    assert.equal(namespace().adapter.sids.size, 0);
  });
});

describe('Room state under 10k join attempts from one raw WebSocket', () => {
  let started: StartedWsApp;
  let joins: RoomJoins | undefined;
  const seen: InFlight = { mostPending: 0, mostHeld: 0 };

  before(async () => {
    started = await startWsApp({
      imports: [roomsModule(limits(() => joins, seen))],
      providers: [RoomsWsGateway],
    });
    joins = roomJoinsOf(started.app as INestApplication);
  });
  after(() => started.close());

  async function open(sub: string): Promise<{ ws: WebSocket; log: FrameLog }> {
    const uuid = await ticketFor(started.url, signJwt({ sub }));
    const ws = await openedWs(`${started.wsUrl}/ws/rooms?uuid=${uuid}`);
    return { ws, log: new FrameLog(ws) };
  }

  /** The server side of the only socket of a user. */
  function serverSocketOf(sub: string): WebSocket {
    const clients = (
      started.adapter as unknown as { sockets: { of(userId: string): WebSocket[] } }
    ).sockets.of(sub);
    assert.equal(clients.length, 1);
    return clients[0] as WebSocket;
  }

  /** Sends requests `from` to `to` of the flood and tallies their answers. */
  async function flood(
    { ws, log }: { ws: WebSocket; log: FrameLog },
    from: number,
    to: number,
    tally: Tally,
  ): Promise<void> {
    const before = log.frames.length;
    let sent = 0;
    for (let i = from; i < to; i++) {
      for (const { event, payload } of requestsAt(i)) {
        ws.send(JSON.stringify({ event, data: payload }));
        sent += 1;
      }
    }
    const answers = () =>
      log.frames.slice(before).filter((frame) => frame.event === JOIN || frame.event === LEAVE);
    await log.until(() => answers().length >= sent, 'the answers of a batch', 20_000);
    assert.equal(ws.readyState, WebSocket.OPEN, 'the socket was closed');
    for (const frame of answers()) tally.add(frame.data);
    assert.equal(answers().length, sent, 'one answer per request');
  }

  it(`keeps the socket at ${CAP} rooms, empties the index of joins in flight and the registry once closed`, async () => {
    const flooding = await open('1');
    const other = await open('2');
    const tally = new Tally();
    try {
      const server = serverSocketOf('1');
      const otherServer = serverSocketOf('2');
      seen.joinedBy = (userId) =>
        wsJoinedOf(started.adapter, userId === '1' ? server : otherServer) ?? [];
      const registry = wsRegistryOf(started.adapter);
      for (let start = 0; start < ATTEMPTS; start += BATCH) {
        await Promise.all([
          flood(flooding, start, start + BATCH, tally),
          flood(other, start, start + 10, new Tally()),
        ]);
        assert.equal(joins?.pendingCount, 0, 'joins in flight after their answers');
        const joined = wsJoinedOf(started.adapter, server) ?? new Set();
        assert.ok(joined.size <= CAP, `${joined.size} rooms joined on request`);
        const otherJoined = wsJoinedOf(started.adapter, otherServer) ?? new Set();
        // The registry holds the rooms the two sockets joined, and each room its members only.
        assert.deepEqual(
          [...registry.keys()].sort(),
          [...new Set([...joined, ...otherJoined])].sort(),
        );
        for (const [room, members] of registry) {
          assert.equal(members.has(server), joined.has(room), room);
          assert.equal(members.has(otherServer), otherJoined.has(room), room);
          assert.ok(members.size <= 2);
        }
        assert.ok(wsRoomsOf(started.adapter).size <= 2 * CAP);
      }
      assert.ok((tally.counts.get('room_limit') ?? 0) > 0, 'the cap was never reached');
      assert.ok(seen.mostPending > 1, 'joins were in flight together');
      assert.ok(seen.mostHeld <= CAP, `${seen.mostHeld} rooms held by one socket`);
      // Alive and usable.
      const from = flooding.log.frames.length;
      flooding.ws.send(JSON.stringify({ event: 'in', data: 'lobby' }));
      await flooding.log.until(() => flooding.log.of('in', from).length > 0, 'the "in" answer');
      assert.deepEqual(flooding.log.of('in', from), [
        { event: 'in', data: wsJoinedOf(started.adapter, server)?.has('lobby') },
      ]);
    } finally {
      flooding.ws.close();
      other.ws.close();
    }
    await eventually(
      () => wsRoomsOf(started.adapter).size === 0,
      () => `rooms left after the close: ${[...wsRegistryOf(started.adapter).keys()].join(', ')}`,
    );
    assert.equal(joins?.pendingCount, 0);
  });

  it('a socket that closes with joins in flight leaves no room and no join behind', async () => {
    const { ws } = await open('3');
    for (let i = 0; i < CAP; i++)
      ws.send(JSON.stringify({ event: JOIN, data: { room: `late:${i}` } }));
    await eventually(() => (joins?.pendingCount ?? 0) === CAP, 'the joins in flight');
    ws.close();
    await eventually(() => joins?.pendingCount === 0, 'the joins answered');
    assert.equal(
      wsRoomsOf(started.adapter).size,
      0,
      [...wsRegistryOf(started.adapter).keys()].join(),
    );
  });
});

describe('10k join attempts against roomJoinLimit (its default of 50 attempts)', () => {
  let io: StartedApp;
  let ws: StartedWsApp;
  /** Rule calls, of both apps. */
  let calls = 0;
  /** The most joins in flight the `slow:*` rule saw, on either app. */
  let mostPending = 0;
  const counted: WsTicketRoomRules<RoomUser> = {
    'open:{n}': () => {
      calls += 1;
      return true;
    },
    'slow:{n}': async () => {
      calls += 1;
      for (const app of [io?.app, ws?.app]) {
        if (app) mostPending = Math.max(mostPending, roomJoinsOf(app).pendingCount);
      }
      await sleep(2);
      return true;
    },
  };

  before(async () => {
    // A window far longer than the test: the count is the subject, not the clock.
    const options = { rooms: counted, roomJoinLimit: { window: 600 } };
    io = await startApp({
      imports: [roomsModule(options)],
      providers: [RoomsChatGateway],
    });
    ws = await startWsApp({
      imports: [roomsModule(options)],
      providers: [RoomsWsGateway],
    });
  });
  after(async () => {
    await io.close();
    await ws.close();
  });

  /** Attempt i: an allowed room, one slow room asked for again and again, a refused room. */
  const attempt = (i: number) => ({
    room: [`open:${i % 150}`, 'slow:1', `deny:${i}`][i % 3],
  });

  it('answers 50 attempts of a Socket.IO socket and refuses the rest with rate_limited, running no rule for them', async () => {
    calls = 0;
    mostPending = 0;
    const uuid = await ticketFor(io.url, signJwt({ sub: '1' }));
    const client = await connected(`${io.url}/chat`, { auth: { uuid } });
    try {
      const answers: unknown[] = [];
      for (let start = 0; start < ATTEMPTS; start += 1000) {
        const batch: Array<Promise<unknown>> = [];
        for (let i = start; i < start + 1000; i++) {
          batch.push(client.timeout(10_000).emitWithAck(JOIN, attempt(i)));
        }
        answers.push(...(await withDeadline(Promise.all(batch), 20_000, 'a batch')));
      }
      const limited = answers.filter(
        (answer) => (answer as { code?: string }).code === 'rate_limited',
      );
      assert.equal(answers.length, ATTEMPTS);
      assert.equal(limited.length, ATTEMPTS - 50);
      assert.ok(calls <= 50, `${calls} rule calls`);
      // The joins in flight are attempts too: the index holds 50 at most.
      assert.ok(mostPending <= 50, `${mostPending} joins in flight`);
      assert.equal(roomJoinsOf(io.app).pendingCount, 0);
      assert.equal(client.connected, true);
    } finally {
      client.close();
    }
  });

  it('answers 50 attempts of a raw WebSocket and refuses the rest with rate_limited, running no rule for them', async () => {
    calls = 0;
    mostPending = 0;
    const uuid = await ticketFor(ws.url, signJwt({ sub: '1' }));
    const client = await openedWs(`${ws.wsUrl}/ws/rooms?uuid=${uuid}`);
    const log = new FrameLog(client);
    try {
      for (let i = 0; i < ATTEMPTS; i++) {
        client.send(JSON.stringify({ event: JOIN, data: attempt(i) }));
      }
      await log.until(() => log.frames.length >= ATTEMPTS, 'every answer', 20_000);
      const answers = log.of(JOIN).map((frame) => frame.data as WsTicketRoomAck);
      assert.equal(answers.length, ATTEMPTS);
      const limited = answers.filter((answer) => !answer.ok && answer.code === 'rate_limited');
      assert.equal(limited.length, ATTEMPTS - 50);
      assert.ok(calls <= 50, `${calls} rule calls`);
      assert.ok(mostPending <= 50, `${mostPending} joins in flight`);
      assert.equal(roomJoinsOf(ws.app).pendingCount, 0);
      assert.equal(client.readyState, WebSocket.OPEN);
    } finally {
      client.close();
    }
  });
});
