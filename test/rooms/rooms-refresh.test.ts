import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { UseGuards } from '@nestjs/common';
import {
  ConnectedSocket,
  MessageBody,
  SubscribeMessage,
  WebSocketGateway,
} from '@nestjs/websockets';
import type { Socket as ServerSocket } from 'socket.io';
import { Manager, type Socket } from 'socket.io-client';
import type { WebSocket } from 'ws';
import {
  WsTicketGuard,
  type WsTicketRefreshAck,
  type WsTicketRoomAck,
  type WsTicketRoomContext,
  WsTicketRooms,
} from '../../lib/index.js';
import { PLATFORMS, type StartedApp, startOn, ticketFor } from '../support/app.js';
import { signJwt } from '../support/jwt.js';
import { ask, outcome } from '../support/sockets.js';
import { ask as askWs, openedWs, type StartedWsApp, startWsApp } from '../ws/fixtures/ws-app.js';
import { PlanRooms } from './fixtures/plan-rooms.js';
import { OrderRooms, OrdersFixture, RoomsChatGateway, roomsModule } from './fixtures/rooms-app.js';
import { RoomsWsGateway } from './fixtures/rooms-ws-gateway.js';
import { eventually } from './fixtures/waits.js';

// A live refresh (`ws-ticket:refresh`) resolves the user again: every room the socket joined on
// request is asked about again with the new user (reason 'refresh'); those refused are left with
// `ws-ticket:left` `{ room, code: 'room_forbidden' }`, the others stay.

/** A second Socket.IO namespace, multiplexed with /chat on one connection. */
@WebSocketGateway({ namespace: '/notes' })
@UseGuards(WsTicketGuard)
class RoomsNotesGateway {
  constructor(private readonly rooms: WsTicketRooms) {}

  @SubscribeMessage('in')
  in(@ConnectedSocket() socket: ServerSocket, @MessageBody() room: string): boolean {
    return this.rooms.has(socket, room);
  }
}

/** callbackTimeout of the apps (ms): a re-check's rule slower than this loses its room. */
const RULE_TIMEOUT = 500;

const PREMIUM_ROOMS = ['plan:premium:news', 'plan:premium:sport'];
const KEPT_ROOMS = ['lobby', 'order:1'];
const LEFT = PREMIUM_ROOMS.map((room) => ({ room, code: 'room_forbidden' }));

const token = (sub: string, plan: string) => signJwt({ sub, plan });
const byRoom = <T extends { room: string }>(list: T[]) =>
  [...list].sort((a, b) => a.room.localeCompare(b.room));

/** What the rules were asked, in a comparable shape. */
function asked(
  plans: PlanRooms,
  orders: OrdersFixture,
): Array<{ room: string; reason: string; userId: string; plan?: string | undefined }> {
  const summary = ({ room, reason, userId }: WsTicketRoomContext) => ({ room, reason, userId });
  return byRoom([
    ...plans.calls.map(({ plan, context }) => ({ ...summary(context), plan })),
    ...orders.calls.map(summary),
  ]);
}

for (const platform of PLATFORMS) {
  const start = startOn(platform);

  describe(`Rooms re-checked on a live refresh, Socket.IO [${platform}]`, () => {
    let started: StartedApp;
    let plans: PlanRooms;
    let orders: OrdersFixture;
    const managers: Manager[] = [];

    before(async () => {
      started = await start({
        imports: [roomsModule({ callbackTimeout: RULE_TIMEOUT })],
        providers: [OrdersFixture, OrderRooms, PlanRooms, RoomsChatGateway, RoomsNotesGateway],
      });
      plans = started.app.get(PlanRooms);
      orders = started.app.get(OrdersFixture);
    });
    after(async () => {
      for (const manager of managers) manager.engine?.close();
      await started.close();
    });
    beforeEach(() => {
      plans.calls.length = 0;
      plans.delay = 0;
      orders.calls.length = 0;
    });

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

    const join = (socket: Socket, room: string) =>
      ask<WsTicketRoomAck>(socket, 'ws-ticket:join', { room });
    const isIn = (socket: Socket, room: string) => ask<boolean>(socket, 'in', room);
    const refresh = async (socket: Socket, sub: string, plan: string) =>
      ask<WsTicketRefreshAck>(socket, 'ws-ticket:refresh', {
        uuid: await ticketFor(started.url, token(sub, plan)),
      });

    /** Every `ws-ticket:left` the socket gets from now on. */
    function lefts(socket: Socket): Array<{ room: string; code: string }> {
      const told: Array<{ room: string; code: string }> = [];
      socket.on('ws-ticket:left', (payload: { room: string; code: string }) => told.push(payload));
      return told;
    }

    async function joinAll(socket: Socket, rooms: string[]): Promise<void> {
      for (const room of rooms) assert.deepEqual(await join(socket, room), { ok: true, room });
    }

    it('leaves the rooms the refreshed user may not be in with ws-ticket:left room_forbidden, keeps the others; the rules saw the new user and reason refresh', async () => {
      const socket = await open('/chat', await ticketFor(started.url, token('1', 'premium')));
      await joinAll(socket, [...PREMIUM_ROOMS, ...KEPT_ROOMS]);
      const told = lefts(socket);
      plans.calls.length = 0;
      orders.calls.length = 0;

      const ack = await refresh(socket, '1', 'free');
      assert.equal(ack.ok, true);
      await eventually(() => told.length >= LEFT.length, 'ws-ticket:left of the premium rooms');
      for (const room of PREMIUM_ROOMS) assert.equal(await isIn(socket, room), false, room);
      for (const room of KEPT_ROOMS) assert.equal(await isIn(socket, room), true, room);
      assert.deepEqual(byRoom(told), LEFT, 'exactly the refused rooms were left');
      assert.deepEqual(asked(plans, orders), [
        { room: 'order:1', reason: 'refresh', userId: '1' },
        { room: 'plan:premium:news', reason: 'refresh', userId: '1', plan: 'free' },
        { room: 'plan:premium:sport', reason: 'refresh', userId: '1', plan: 'free' },
      ]);
      // The free plan's own rooms are the rule's call as before.
      assert.equal((await join(socket, 'plan:free:news')).ok, true);
      assert.equal((await join(socket, 'plan:premium:news')).ok, false);
      socket.disconnect();
    });

    it('a refresh that keeps the plan asks again and leaves nothing', async () => {
      const socket = await open('/chat', await ticketFor(started.url, token('2', 'premium')));
      await joinAll(socket, PREMIUM_ROOMS);
      const told = lefts(socket);
      plans.calls.length = 0;
      assert.equal((await refresh(socket, '2', 'premium')).ok, true);
      await eventually(() => plans.calls.length === PREMIUM_ROOMS.length, 'the re-check');
      for (const room of PREMIUM_ROOMS) assert.equal(await isIn(socket, room), true, room);
      assert.deepEqual(told, []);
      socket.disconnect();
    });

    it('a room whose rule does not answer the re-check in time is left with room_unavailable', async () => {
      const socket = await open('/chat', await ticketFor(started.url, token('6', 'premium')));
      await joinAll(socket, ['plan:premium:news', 'lobby']);
      const told = lefts(socket);
      plans.delay = RULE_TIMEOUT * 2;
      assert.equal((await refresh(socket, '6', 'premium')).ok, true);
      await eventually(() => told.length > 0, 'ws-ticket:left');
      assert.deepEqual(told, [{ room: 'plan:premium:news', code: 'room_unavailable' }]);
      assert.equal(await isIn(socket, 'plan:premium:news'), false);
      assert.equal(await isIn(socket, 'lobby'), true);
      socket.disconnect();
    });

    it('a refused refresh asks no rule and leaves no room', async () => {
      const uuid = await ticketFor(started.url, token('3', 'premium'));
      const socket = await open('/chat', uuid);
      await joinAll(socket, PREMIUM_ROOMS);
      const told = lefts(socket);
      plans.calls.length = 0;
      // The spent ticket, of the same user.
      assert.deepEqual(await ask(socket, 'ws-ticket:refresh', { uuid }), {
        ok: false,
        code: 'ticket_invalid',
      });
      for (const room of PREMIUM_ROOMS) assert.equal(await isIn(socket, room), true, room);
      assert.deepEqual(told, []);
      assert.deepEqual(plans.calls, []);
      socket.disconnect();
    });

    // Regression (failed on 1638ef6, fixed by cfafc9e): the re-check covered the rooms joined when
    // the refresh applied; a join whose rule was still running had been asked about the old user,
    // and landed after it.
    it('a join whose rule is still running when the refresh applies does not survive it', async () => {
      const socket = await open('/chat', await ticketFor(started.url, token('5', 'premium')));
      plans.delay = 300;
      const joining = join(socket, 'plan:premium:news');
      await eventually(() => plans.calls.length === 1, 'the join reaching its rule');
      assert.equal((await refresh(socket, '5', 'free')).ok, true);
      await joining;
      plans.delay = 0;
      assert.equal(await isIn(socket, 'plan:premium:news'), false, 'a free user in a premium room');
      socket.disconnect();
    });

    it('re-checks the rooms of every namespace socket the refresh extends on the connection', async () => {
      const connection = manager();
      const uuid = await ticketFor(started.url, token('4', 'premium'));
      const chat = await open('/chat', uuid, connection);
      const notes = await open('/notes', uuid, connection);
      await joinAll(chat, ['plan:premium:news', 'lobby']);
      await joinAll(notes, ['plan:premium:sport', 'lobby']);
      const chatTold = lefts(chat);
      const notesTold = lefts(notes);
      assert.equal((await refresh(chat, '4', 'free')).ok, true);
      await eventually(() => chatTold.length + notesTold.length >= 2, 'both ws-ticket:left');
      assert.deepEqual(chatTold, [{ room: 'plan:premium:news', code: 'room_forbidden' }]);
      assert.deepEqual(notesTold, [{ room: 'plan:premium:sport', code: 'room_forbidden' }]);
      assert.equal(await isIn(notes, 'plan:premium:sport'), false);
      assert.equal(await isIn(notes, 'lobby'), true);
      assert.deepEqual(
        plans.calls
          .filter(({ context }) => context.reason === 'refresh')
          .map(({ plan, context }) => [context.namespace, context.room, plan])
          .sort(),
        [
          ['/chat', 'plan:premium:news', 'free'],
          ['/notes', 'plan:premium:sport', 'free'],
        ],
      );
      connection.engine?.close();
    });
  });

  describe(`Rooms re-checked on a live refresh, raw WebSockets [${platform}]`, () => {
    let started: StartedWsApp;
    let plans: PlanRooms;
    let orders: OrdersFixture;
    const sockets: WebSocket[] = [];

    before(async () => {
      started = await startWsApp(
        {
          imports: [roomsModule({ callbackTimeout: RULE_TIMEOUT })],
          providers: [OrdersFixture, OrderRooms, PlanRooms, RoomsWsGateway],
        },
        { platform },
      );
      plans = started.app.get(PlanRooms);
      orders = started.app.get(OrdersFixture);
    });
    after(async () => {
      for (const ws of sockets) ws.terminate();
      await started.close();
    });
    beforeEach(() => {
      plans.calls.length = 0;
      plans.delay = 0;
      orders.calls.length = 0;
    });

    async function open(sub: string, plan: string): Promise<WebSocket> {
      const uuid = await ticketFor(started.url, token(sub, plan));
      const ws = await openedWs(`${started.wsUrl}/ws/rooms?uuid=${uuid}`);
      sockets.push(ws);
      return ws;
    }
    const join = (ws: WebSocket, room: string) =>
      askWs<WsTicketRoomAck>(ws, 'ws-ticket:join', { room });
    const isIn = (ws: WebSocket, room: string) => askWs<boolean>(ws, 'in', room);

    /** The data of every `ws-ticket:left` frame the socket gets from now on. */
    function lefts(ws: WebSocket): Array<{ room: string; code: string }> {
      const told: Array<{ room: string; code: string }> = [];
      ws.on('message', (raw: Buffer) => {
        const frame = JSON.parse(raw.toString()) as { event?: string; data?: unknown };
        if (frame.event === 'ws-ticket:left')
          told.push(frame.data as { room: string; code: string });
      });
      return told;
    }

    it('leaves the rooms the refreshed user may not be in with a ws-ticket:left frame, keeps the others; the rules saw the new user and reason refresh', async () => {
      const ws = await open('1', 'premium');
      for (const room of [...PREMIUM_ROOMS, ...KEPT_ROOMS]) {
        assert.deepEqual(await join(ws, room), { ok: true, room });
      }
      const told = lefts(ws);
      plans.calls.length = 0;
      orders.calls.length = 0;

      const ack = await askWs<WsTicketRefreshAck>(ws, 'ws-ticket:refresh', {
        uuid: await ticketFor(started.url, token('1', 'free')),
      });
      assert.equal(ack.ok, true);
      await eventually(() => told.length >= LEFT.length, 'ws-ticket:left of the premium rooms');
      for (const room of PREMIUM_ROOMS) assert.equal(await isIn(ws, room), false, room);
      for (const room of KEPT_ROOMS) assert.equal(await isIn(ws, room), true, room);
      assert.deepEqual(byRoom(told), LEFT, 'exactly the refused rooms were left');
      assert.deepEqual(asked(plans, orders), [
        { room: 'order:1', reason: 'refresh', userId: '1' },
        { room: 'plan:premium:news', reason: 'refresh', userId: '1', plan: 'free' },
        { room: 'plan:premium:sport', reason: 'refresh', userId: '1', plan: 'free' },
      ]);
      assert.ok(plans.calls.every(({ context }) => context.transport === 'ws'));
      assert.ok(plans.calls.every(({ context }) => context.namespace === '/ws/rooms'));
    });

    // Regression (failed on 1638ef6, fixed by cfafc9e): as on Socket.IO.
    it('a join whose rule is still running when the refresh applies does not survive it', async () => {
      const ws = await open('5', 'premium');
      plans.delay = 300;
      const joining = join(ws, 'plan:premium:news');
      await eventually(() => plans.calls.length === 1, 'the join reaching its rule');
      const ack = await askWs<WsTicketRefreshAck>(ws, 'ws-ticket:refresh', {
        uuid: await ticketFor(started.url, token('5', 'free')),
      });
      assert.equal(ack.ok, true);
      await joining;
      plans.delay = 0;
      assert.equal(await isIn(ws, 'plan:premium:news'), false, 'a free user in a premium room');
    });

    it('a refused refresh asks no rule and leaves no room', async () => {
      const uuid = await ticketFor(started.url, token('3', 'premium'));
      const ws = await openedWs(`${started.wsUrl}/ws/rooms?uuid=${uuid}`);
      sockets.push(ws);
      for (const room of PREMIUM_ROOMS) assert.equal((await join(ws, room)).ok, true);
      const told = lefts(ws);
      plans.calls.length = 0;
      assert.deepEqual(await askWs(ws, 'ws-ticket:refresh', { uuid }), {
        ok: false,
        code: 'ticket_invalid',
      });
      for (const room of PREMIUM_ROOMS) assert.equal(await isIn(ws, room), true, room);
      assert.deepEqual(told, []);
      assert.deepEqual(plans.calls, []);
    });
  });
}
