import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { WebSocket } from 'ws';
import { type WsTicketRoomAck, type WsTicketRoomLeft, WsTicketRooms } from '../../lib/index.js';
import { PLATFORMS, ticketFor } from '../support/app.js';
import { signJwt } from '../support/jwt.js';
import {
  ask,
  CaptureLogger,
  nextFrame,
  openedWs,
  type StartedWsApp,
  startWsApp,
} from '../ws/fixtures/ws-app.js';
import { OrderRooms, OrdersFixture, roomsModule } from './fixtures/rooms-app.js';
import { RoomsWsGateway } from './fixtures/rooms-ws-gateway.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const platform of PLATFORMS) {
  describe(`Rooms on raw WebSockets [${platform}]`, () => {
    let started: StartedWsApp;
    let rooms: WsTicketRooms;
    let orders: OrdersFixture;
    const logger = new CaptureLogger();
    const sockets: WebSocket[] = [];

    before(async () => {
      started = await startWsApp(
        {
          imports: [roomsModule({ maxRoomsPerSocket: 3, callbackTimeout: 300 })],
          providers: [OrdersFixture, OrderRooms, RoomsWsGateway],
        },
        { platform, logger },
      );
      rooms = started.app.get(WsTicketRooms);
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
    const join = (ws: WebSocket, data: unknown) => ask<WsTicketRoomAck>(ws, 'ws-ticket:join', data);
    const isIn = (ws: WebSocket, room: string) => ask<boolean>(ws, 'in', room);

    it('joins on a frame, answers with a frame of the same event, and delivers room messages to members only', async () => {
      const alice = await open('1');
      const bob = await open('2');
      assert.deepEqual(await join(alice, { room: 'order:1' }), { ok: true, room: 'order:1' });
      assert.deepEqual(await join(bob, { room: 'order:1' }), {
        ok: false,
        room: 'order:1',
        code: 'room_forbidden',
      });
      let bobHeard = 0;
      bob.on('message', (raw: Buffer) => {
        if (raw.toString().includes('"said"')) bobHeard++;
      });
      const heard = nextFrame<{ text: string }>(alice, 'said');
      assert.equal(await ask(alice, 'say', { room: 'order:1', text: 'hi' }), true);
      assert.deepEqual(await heard, { room: 'order:1', text: 'hi' });
      await sleep(50);
      assert.equal(bobHeard, 0);
      assert.equal(orders.calls.at(-1)?.transport, 'ws');
      assert.equal(orders.calls.at(-1)?.namespace, '/ws/rooms');
    });

    it('answers every refusal code as a frame', async () => {
      const ws = await open('3');
      assert.deepEqual(await join(ws, { room: 'a b' }), {
        ok: false,
        room: 'a b',
        code: 'room_malformed',
      });
      assert.deepEqual(await join(ws, 'lobby'), { ok: false, room: null, code: 'room_malformed' });
      assert.deepEqual(await join(ws, { room: 'ws-ticket:user:3' }), {
        ok: false,
        room: 'ws-ticket:user:3',
        code: 'room_forbidden',
      });
      assert.deepEqual(await join(ws, { room: 'hang:1' }), {
        ok: false,
        room: 'hang:1',
        code: 'room_unavailable',
      });
      for (const room of ['lobby', 'premium:x', 'truthy:1']) await join(ws, { room });
      orders.owners.set('7', '3');
      orders.owners.set('8', '3');
      orders.owners.set('9', '3');
      assert.equal((await join(ws, { room: 'order:7' })).ok, true);
      assert.equal((await join(ws, { room: 'order:8' })).ok, true);
      assert.deepEqual(await join(ws, { room: 'order:9' }), {
        ok: false,
        room: 'order:9',
        code: 'room_limit',
      });
    });

    it('removeFromRoom takes the user out with ws-ticket:left; leave answers ok', async () => {
      const ws = await open('4');
      await join(ws, { room: 'lobby' });
      const left = nextFrame<WsTicketRoomLeft>(ws, 'ws-ticket:left');
      assert.equal(await rooms.removeFromRoom('4', 'lobby', 'kicked'), 1);
      assert.deepEqual(await left, { room: 'lobby', code: 'kicked' });
      assert.equal(await isIn(ws, 'lobby'), false);
      assert.deepEqual(await ask(ws, 'ws-ticket:leave', { room: 'lobby' }), {
        ok: true,
        room: 'lobby',
      });
    });
  });
}
