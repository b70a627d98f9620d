// Rooms across two app instances on one real redis-server: Socket.IO on @socket.io/redis-adapter,
// raw WebSocket through the module's channel (`<keyPrefix>instances`). The two instances are two
// Nest apps in this process, each with its own module, service, store connection and adapter, as
// two processes behind a load balancer. Waits here are bounds on "does not hang", never measurements.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { INestApplication } from '@nestjs/common';
import type { Socket } from 'socket.io-client';
import type { WebSocket } from 'ws';
import {
  RedisTicketStore,
  WsTicketError,
  type WsTicketRoomAck,
  type WsTicketRoomLeft,
  WsTicketRooms,
} from '../../lib/index.js';
import { RedisWsTicketIoAdapter } from '../../sample/redis/redis-ws-ticket-io.adapter.js';
import { RoomsChatGateway, roomsModule } from '../rooms/fixtures/rooms-app.js';
import { RoomsWsGateway } from '../rooms/fixtures/rooms-ws-gateway.js';
import { startApp, ticketFor } from '../support/app.js';
import { signJwt } from '../support/jwt.js';
import {
  type RedisServerHandle,
  redisSkipReason,
  startRedisServer,
} from '../support/redis-server.js';
import { ANSWER_WAIT_MS, ask as askIo, connected } from '../support/sockets.js';
import { withDeadline } from '../support/stop-child.js';
import {
  ask as askWs,
  CaptureLogger,
  nextFrame,
  openedWs,
  startWsApp,
} from '../ws/fixtures/ws-app.js';
import { grantKey, grantProviders, RedisGrants } from './fixtures/room-grants.js';
import { eventually, inspector } from './support/redis-tools.js';

const skip = redisSkipReason();
/** The module's channel between instances, with the default keyPrefix. */
const CHANNEL = 'ws-ticket:instances';
/** Joins and removals raced, per transport. */
const RACES = 100;

type Redis = Awaited<ReturnType<typeof inspector>>;

/** One app instance as the tests drive it. */
interface Instance {
  url: string;
  rooms: WsTicketRooms;
  grants: RedisGrants;
  close(): Promise<void>;
}

/** What the shared tests need of a transport's client sockets. */
interface Transport<C> {
  readonly name: string;
  /** Opens a socket on `on` as user `sub`, with a ticket issued there. */
  open(on: Instance, sub: string): Promise<C>;
  /** Sends `event` with `data` and resolves the answer (a Socket.IO ack, a raw frame of the same event). */
  ask<T>(client: C, event: string, data: unknown): Promise<T>;
  /** Resolves the data of the next `event` the socket receives. */
  next<T>(client: C, event: string): Promise<T>;
  /** Every `event` the socket receives from now on, in order. */
  collect<T>(client: C, event: string): T[];
  close(client: C): void;
}

/** The rooms every instance has: `lobby` and `team:*` admit everyone, `grant:*` reads Redis. */
function moduleOn(url: string) {
  return roomsModule({
    store: new RedisTicketStore({ url }),
    storeTimeout: 500,
    rooms: { lobby: true, 'team:{name}': true },
    // Races join a hundred times: the attempt window is not what they test.
    roomJoinLimit: { limit: 100_000, window: 1 },
  });
}

function instanceOf(app: INestApplication, url: string): Omit<Instance, 'close'> {
  return { url, rooms: app.get(WsTicketRooms), grants: app.get(RedisGrants) };
}

/** Whether `promise` resolves within `ms` (a probe of a background subscription). */
function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([promise.then(() => true), late]).finally(() => clearTimeout(timer));
}

const io: Transport<Socket> = {
  name: 'Socket.IO on @socket.io/redis-adapter',
  async open(on, sub) {
    const uuid = await ticketFor(on.url, signJwt({ sub }));
    return connected(`${on.url}/chat`, { auth: { uuid } });
  },
  ask: (socket, event, data) => askIo(socket, event, data),
  next: (socket, event) =>
    withDeadline(
      new Promise((resolve) => socket.once(event, resolve)),
      ANSWER_WAIT_MS,
      `waiting for "${event}"`,
    ),
  collect<T>(socket: Socket, event: string) {
    const heard: T[] = [];
    socket.on(event, (data: T) => heard.push(data));
    return heard;
  },
  close: (socket) => socket.close(),
};

const ws: Transport<WebSocket> & { wsUrl(on: Instance): string } = {
  name: 'raw WebSocket through the module channel',
  wsUrl: (on) => on.url.replace(/^http/, 'ws'),
  async open(on, sub) {
    const uuid = await ticketFor(on.url, signJwt({ sub }));
    return openedWs(`${ws.wsUrl(on)}/ws/rooms?uuid=${uuid}`);
  },
  ask: (client, event, data) =>
    withDeadline(askWs(client, event, data), ANSWER_WAIT_MS, `the answer to "${event}"`),
  next: (client, event) =>
    withDeadline(nextFrame(client, event), ANSWER_WAIT_MS, `waiting for "${event}"`),
  collect<T>(client: WebSocket, event: string) {
    const heard: T[] = [];
    client.on('message', (raw: Buffer) => {
      const frame = JSON.parse(raw.toString()) as { event?: string; data?: T };
      if (frame.event === event) heard.push(frame.data as T);
    });
    return heard;
  },
  close: (client) => client.terminate(),
};

/**
 * The cross-instance behaviour both transports share; `instances()` gives A and B once the
 * enclosing suite started them. Every removal and message goes from A to sockets on B.
 */
function sharedTests<C>(
  transport: Transport<C>,
  instances: () => { a: Instance; b: Instance; redis: Redis },
): void {
  const opened: C[] = [];
  const open = async (on: Instance, sub: string) => {
    const client = await transport.open(on, sub);
    opened.push(client);
    return client;
  };
  const join = (client: C, room: string) =>
    transport.ask<WsTicketRoomAck>(client, 'ws-ticket:join', { room });
  const isIn = (client: C, room: string) => transport.ask<boolean>(client, 'in', room);
  const left = (client: C) => transport.next<WsTicketRoomLeft>(client, 'ws-ticket:left');
  let ticks = 0;
  /**
   * Resolves once B has handled everything A sent it before: A's messages leave on one connection
   * and B handles them in order, so once a later one arrived at `marker`, the earlier ones were
   * handled.
   */
  const fence = async (marker: C) => {
    const tick = ++ticks;
    const arrived = transport.next<number>(marker, 'tick');
    await instances().a.rooms.to('team:marker').emit('tick', tick);
    assert.equal(await arrived, tick);
  };

  afterEach(() => {
    for (const client of opened.splice(0)) transport.close(client);
  });

  it('removeFromRoom on A takes the user out of the room on B with ws-ticket:left room_revoked, and leaves other users in it', async () => {
    const { a, b } = instances();
    const [onA, onB, alsoOnB, other] = await Promise.all([
      open(a, 'dana'),
      open(b, 'dana'),
      open(b, 'dana'),
      open(b, 'erin'),
    ]);
    for (const client of [onA, onB, alsoOnB, other]) {
      assert.deepEqual(await join(client, 'team:red'), { ok: true, room: 'team:red' });
    }
    const erinLeft = transport.collect(other, 'ws-ticket:left');
    const told = [onA, onB, alsoOnB].map(left);

    // A answers how many sockets it took out itself.
    assert.equal(await a.rooms.removeFromRoom('dana', 'team:red'), 1);
    for (const payload of await Promise.all(told)) {
      assert.deepEqual(payload, { room: 'team:red', code: 'room_revoked' });
    }
    for (const client of [onA, onB, alsoOnB]) assert.equal(await isIn(client, 'team:red'), false);
    assert.equal(await isIn(other, 'team:red'), true);
    const said = transport.next<{ text: string }>(other, 'said');
    await a.rooms.to('team:red').emit('said', { text: 'still here' });
    assert.deepEqual(await said, { text: 'still here' });
    assert.deepEqual(erinLeft, []);
  });

  it('removeFromRoom on A with a code of its own sends that code to the socket on B', async () => {
    const { a, b } = instances();
    const onB = await open(b, 'frank');
    await join(onB, 'team:blue');
    const told = left(onB);
    assert.equal(await a.rooms.removeFromRoom('frank', 'team:blue', 'order_closed'), 0);
    assert.deepEqual(await told, { room: 'team:blue', code: 'order_closed' });
    assert.equal(await isIn(onB, 'team:blue'), false);
  });

  it("to(room).emit() on A reaches the room's members on A and B, and never a non-member", async () => {
    const { a, b } = instances();
    const members = await Promise.all([open(b, 'gwen'), open(b, 'hank'), open(a, 'ivy')]);
    const outsiders = await Promise.all([
      open(b, 'gwen'), // the same user, not in the room
      open(b, 'jack'), // another room only
      open(b, 'kim'), // joined, then left
      open(a, 'lena'),
    ]);
    for (const client of members) await join(client, 'team:green');
    const [sameUser, otherRoom, leaver, onA] = outsiders;
    await join(otherRoom, 'team:greenish');
    await join(leaver, 'team:green');
    assert.deepEqual(await transport.ask(leaver, 'ws-ticket:leave', { room: 'team:green' }), {
      ok: true,
      room: 'team:green',
    });
    for (const client of [sameUser, otherRoom, leaver, onA]) await join(client, 'team:fence');
    const overheard = outsiders.map((client) => transport.collect<unknown>(client, 'said'));
    const heard = members.map((client) => transport.next<unknown>(client, 'said'));

    await a.rooms.to('team:green').emit('said', { text: 'green only' });
    for (const data of await Promise.all(heard)) assert.deepEqual(data, { text: 'green only' });
    // A's messages reach B in order: once the next one arrived, the first one had its chance.
    const fenced = outsiders.map((client) => transport.next<unknown>(client, 'fenced'));
    await a.rooms.to('team:fence').emit('fenced', {});
    await Promise.all(fenced);
    assert.deepEqual(overheard, [[], [], [], []]);
  });

  it('to(room).emit(event) with no data on A reaches the members on B as it does those on A', async () => {
    const { a, b } = instances();
    const [onA, onB] = await Promise.all([open(a, 'nils'), open(b, 'nils')]);
    for (const client of [onA, onB]) await join(client, 'team:bare');
    const pings = [onA, onB].map((client) => transport.collect<unknown>(client, 'ping'));
    await a.rooms.to('team:bare').emit('ping');
    // A's messages reach B in order: once the next one arrived, the first one had its chance.
    const fenced = [onA, onB].map((client) => transport.next<unknown>(client, 'fenced'));
    await a.rooms.to('team:bare').emit('fenced', {});
    await Promise.all(fenced);
    assert.deepEqual(
      pings.map((heard) => heard.length),
      [1, 1],
    );
  });

  it(`a join on B racing a removal made on A never survives it (${RACES} races, the grant in Redis revoked first)`, async () => {
    const { a, b, redis } = instances();
    const racer = await open(b, 'lee');
    const marker = await open(b, 'marker');
    await join(marker, 'team:marker');
    const toldLeft = transport.collect<WsTicketRoomLeft>(racer, 'ws-ticket:left');
    const said = transport.collect<unknown>(racer, 'said');
    const outcomes = { refusedByRule: 0, voided: 0, admittedThenRemoved: 0 };
    let survivors = 0;
    b.grants.delay = 15;
    try {
      for (let i = 0; i < RACES; i++) {
        await redis.sAdd(grantKey('race'), 'lee');
        const read = b.grants.reads.length;
        const joining = join(racer, 'grant:race');
        await sleep(i % 25);
        await redis.sRem(grantKey('race'), 'lee');
        await a.rooms.removeFromRoom('lee', 'grant:race');
        const ack = await joining;
        await fence(marker);
        if (await isIn(racer, 'grant:race')) {
          survivors++;
          await transport.ask(racer, 'ws-ticket:leave', { room: 'grant:race' });
        }
        if (!b.grants.reads[read]) outcomes.refusedByRule++;
        else if (ack.ok) outcomes.admittedThenRemoved++;
        else outcomes.voided++;
      }
    } finally {
      b.grants.delay = 0;
    }
    assert.equal(survivors, 0);
    // Every join admitted before the removal reached B was taken out again, and told so.
    assert.equal(toldLeft.length, outcomes.admittedThenRemoved);
    for (const payload of toldLeft) {
      assert.deepEqual(payload, { room: 'grant:race', code: 'room_revoked' });
    }
    // The races covered both orders: removals that beat the rule's answer, and joins that beat
    // the removal to B.
    assert.ok(outcomes.voided > 0, JSON.stringify(outcomes));
    assert.ok(outcomes.admittedThenRemoved > 0, JSON.stringify(outcomes));
    // And nothing sent to the room from A afterwards reaches the racer.
    await a.rooms.to('grant:race').emit('said', { text: 'late' });
    await fence(marker);
    assert.deepEqual(said, []);
  });
}

/**
 * Waits until A's removals and room messages reach a socket on B (the subscriptions between the
 * instances are made in the background).
 */
async function untilCrossing<C>(transport: Transport<C>, a: Instance, b: Instance): Promise<void> {
  const probe = await transport.open(b, 'probe');
  try {
    await eventually(async () => {
      await transport.ask(probe, 'ws-ticket:join', { room: 'team:probe' });
      const told = transport.next(probe, 'ws-ticket:left');
      told.catch(() => {});
      await a.rooms.removeFromRoom('probe', 'team:probe').catch(() => 0);
      return within(told, 300);
    }, "A's removals to reach B");
    await transport.ask(probe, 'ws-ticket:join', { room: 'team:probe' });
    await eventually(async () => {
      const heard = transport.next(probe, 'probe');
      heard.catch(() => {});
      await a.rooms
        .to('team:probe')
        .emit('probe', {})
        .catch(() => {});
      return within(heard, 300);
    }, "A's room messages to reach B");
  } finally {
    transport.close(probe);
  }
}

describe('Rooms across two instances on one Redis', { skip, timeout: 120_000 }, () => {
  let redis: RedisServerHandle;
  let inspect: Redis;
  before(async () => {
    redis = await startRedisServer();
    inspect = await inspector(redis.url);
  });
  after(async () => {
    inspect?.destroy();
    await redis?.stop();
  });

  describe(io.name, () => {
    let a: Instance;
    let b: Instance;
    before(async () => {
      const start = async () => {
        const started = await startApp(
          {
            imports: [moduleOn(redis.url)],
            providers: [...grantProviders(redis.url), RoomsChatGateway],
          },
          { adapter: (app) => new RedisWsTicketIoAdapter(app, redis.url) },
        );
        return { ...instanceOf(started.app, started.url), close: started.close };
      };
      [a, b] = await Promise.all([start(), start()]);
      await untilCrossing(io, a, b);
    });
    after(() => Promise.all([a?.close(), b?.close()]));

    sharedTests(io, () => ({ a, b, redis: inspect }));

    it('removeFromRoom on A also takes out a socket on B that the server joined to the room itself', async () => {
      const onB = await io.open(b, 'mona');
      try {
        assert.equal(await askIo(onB, 'server-join', 'team:server'), true);
        const told = io.next<WsTicketRoomLeft>(onB, 'ws-ticket:left');
        await a.rooms.removeFromRoom('mona', 'team:server');
        assert.deepEqual(await told, { room: 'team:server', code: 'room_revoked' });
        assert.equal(await askIo(onB, 'in', 'team:server'), false);
      } finally {
        onB.close();
      }
    });
  });

  describe(ws.name, () => {
    const logger = new CaptureLogger();
    let a: Instance;
    let b: Instance;
    const opened: WebSocket[] = [];
    const open = async (on: Instance, sub: string) => {
      const client = await ws.open(on, sub);
      opened.push(client);
      return client;
    };
    const subscribers = async () => (await inspect.pubSubNumSub(CHANNEL))[CHANNEL];

    before(async () => {
      const start = async () => {
        const started = await startWsApp(
          {
            imports: [moduleOn(redis.url)],
            providers: [...grantProviders(redis.url), RoomsWsGateway],
          },
          { logger },
        );
        return { ...instanceOf(started.app, started.url), close: started.close };
      };
      [a, b] = await Promise.all([start(), start()]);
      await eventually(async () => (await subscribers()) === 2, 'both instances to subscribe');
      await untilCrossing(ws, a, b);
    });
    afterEach(() => {
      for (const client of opened.splice(0)) client.terminate();
    });
    after(() => Promise.all([a?.close(), b?.close()]));

    sharedTests(ws, () => ({ a, b, redis: inspect }));

    it('ignores malformed and foreign room messages on the channel: no crash, one warning per instance, nothing of them logged', async () => {
      const onB = await open(b, 'nora');
      assert.deepEqual(await ws.ask(onB, 'ws-ticket:join', { room: 'lobby' }), {
        ok: true,
        room: 'lobby',
      });
      const frames: unknown[] = [];
      onB.on('message', (raw: Buffer) => frames.push(JSON.parse(raw.toString())));
      const leave = {
        v: 1,
        from: 'x',
        op: 'leave',
        user: 'nora',
        room: 'lobby',
        code: 'room_revoked',
      };
      const emit = { v: 1, from: 'x', op: 'emit', room: 'lobby', event: 'said', data: 'SECRET-0' };
      const foreign: unknown[] = [
        'SECRET-1 not json',
        { ...leave, user: undefined },
        { ...leave, user: '' },
        { ...leave, user: 42 },
        { ...leave, user: ['nora'] },
        { ...leave, room: 'lobby SECRET-2' },
        { ...leave, room: `lobby${'x'.repeat(200)}` },
        { ...leave, room: ['lobby'] },
        { ...leave, room: 'ws-ticket:user:nora' },
        { ...leave, code: 'DROP TABLE SECRET-3' },
        { ...leave, code: 7 },
        { ...leave, v: 2 },
        { ...leave, from: 5 },
        { ...emit, room: 'lobby!' },
        { ...emit, room: 'ws-ticket:user:nora' },
        { ...emit, room: null },
        { ...emit, event: null },
        { ...emit, event: 'said SECRET-4' },
        { ...emit, data: `SECRET-5${'x'.repeat(2 * 1024 * 1024)}` },
        { ...emit, op: 'shout' },
        '{"v":1,"from":"x","op":"leave","__proto__":{"user":"nora","room":"lobby","code":"room_revoked"}}',
        'null',
        '[]',
        '"SECRET-6"',
      ];
      for (const message of foreign) {
        await inspect.publish(
          CHANNEL,
          typeof message === 'string' ? message : JSON.stringify(message),
        );
      }
      // Then genuine ones, which must still work: each earlier message was handled before them.
      const said = ws.next(onB, 'said');
      await a.rooms.to('lobby').emit('said', { text: 'genuine' });
      assert.deepEqual(await said, { text: 'genuine' });
      assert.deepEqual(frames, [{ event: 'said', data: { text: 'genuine' } }]);
      assert.equal(await ws.ask(onB, 'in', 'lobby'), true);
      const told = ws.next(onB, 'ws-ticket:left');
      await a.rooms.removeFromRoom('nora', 'lobby');
      assert.deepEqual(await told, { room: 'lobby', code: 'room_revoked' });

      const warnings = logger.lines.filter((line) => line.includes('Ignored a malformed message'));
      assert.equal(warnings.length, 2, warnings.join('\n'));
      assert.doesNotMatch(logger.lines.join('\n'), /SECRET|DROP TABLE|xxxxxxxx/);
    });

    it("never relays to a room's members an event of the module's (ws-ticket:*) that came over the channel", async () => {
      const onB = await open(b, 'otto');
      await ws.ask(onB, 'ws-ticket:join', { room: 'lobby' });
      const frames: unknown[] = [];
      onB.on('message', (raw: Buffer) => frames.push(JSON.parse(raw.toString())));
      // What no instance sends (to().emit() refuses ws-ticket:* events): a forged removal notice
      // and a forged join answer.
      const forged = [
        { event: 'ws-ticket:left', data: { room: 'lobby', code: 'room_revoked' } },
        { event: 'ws-ticket:join', data: { ok: true, room: 'grant:vault' } },
      ];
      for (const { event, data } of forged) {
        await inspect.publish(
          CHANNEL,
          JSON.stringify({ v: 1, from: 'x', op: 'emit', room: 'lobby', event, data }),
        );
      }
      const said = ws.next(onB, 'said');
      await a.rooms.to('lobby').emit('said', { text: 'genuine' });
      await said;
      assert.deepEqual(frames, [{ event: 'said', data: { text: 'genuine' } }]);
      assert.equal(await ws.ask(onB, 'in', 'lobby'), true);
    });

    it('with Redis stopped, removeFromRoom on A takes out its own sockets and rejects store_unavailable; once Redis is back, removals cross again', async () => {
      const [onA, onB] = await Promise.all([open(a, 'olga'), open(b, 'olga')]);
      for (const client of [onA, onB])
        await ws.ask(client, 'ws-ticket:join', { room: 'team:stop' });
      const toldOnA = ws.next<WsTicketRoomLeft>(onA, 'ws-ticket:left');
      await redis.stop();
      try {
        await assert.rejects(
          a.rooms.removeFromRoom('olga', 'team:stop'),
          (error: unknown) => error instanceof WsTicketError && error.code === 'store_unavailable',
        );
        assert.deepEqual(await toldOnA, { room: 'team:stop', code: 'room_revoked' });
        assert.equal(await ws.ask(onA, 'in', 'team:stop'), false);
        // B could not be told, as the rejection says: the caller's retry is what reaches it.
        assert.equal(await ws.ask(onB, 'in', 'team:stop'), true);
      } finally {
        await redis.start();
      }
      await eventually(
        async () => (await subscribers()) === 2,
        'both instances to subscribe again',
        15_000,
      );
      const toldOnB = ws.next<WsTicketRoomLeft>(onB, 'ws-ticket:left');
      // A's store connection reconnects on its own back-off, apart from B's subscriber.
      await eventually(
        () =>
          a.rooms.removeFromRoom('olga', 'team:stop').then(
            () => true,
            () => false,
          ),
        "A's removal to be sent",
      );
      assert.deepEqual(await toldOnB, { room: 'team:stop', code: 'room_revoked' });
      assert.equal(await ws.ask(onB, 'in', 'team:stop'), false);
    });
  });
});
