import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import { type WsTicketRoomAck, type WsTicketRoomLeft, WsTicketRooms } from '../../lib/index.js';
import { RecoveryTestGateway } from '../fixtures/recovery.gateway.js';
import { PLATFORMS, type StartedApp, startOn, ticketFor } from '../support/app.js';
import { signJwt } from '../support/jwt.js';
import { ask, next, outcome } from '../support/sockets.js';
import { withDeadline } from '../support/stop-child.js';
import { OrderRooms, OrdersFixture, roomsModule } from './fixtures/rooms-app.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const platform of PLATFORMS) {
  describe(`A removal during a recovery's room re-check [${platform}]`, () => {
    let started: StartedApp;
    let rooms: WsTicketRooms;
    let orders: OrdersFixture;

    before(async () => {
      started = await startOn(platform)({
        imports: [roomsModule()],
        providers: [OrdersFixture, OrderRooms, RecoveryTestGateway],
      });
      rooms = started.app.get(WsTicketRooms);
      orders = started.app.get(OrdersFixture);
    });
    after(() => started.close());

    it('wins over the rule that was still answering: the recovered socket is out of the room, told room_revoked', async () => {
      const token = signJwt({ sub: '2' });
      orders.share('1', '2');
      const socket: Socket = io(`${started.url}/recover`, {
        transports: ['websocket'],
        forceNew: true,
        reconnectionDelay: 50,
        reconnectionDelayMax: 50,
        auth: (cb) => {
          ticketFor(started.url, token).then((uuid) => cb({ uuid }));
        },
      });
      try {
        assert.equal((await outcome(socket)).ok, true);
        for (const room of ['order:1', 'lobby']) {
          assert.equal((await ask<WsTicketRoomAck>(socket, 'ws-ticket:join', { room })).ok, true);
        }
        const lefts: WsTicketRoomLeft[] = [];
        socket.on('ws-ticket:left', (left: WsTicketRoomLeft) => lefts.push(left));
        // The recovery's re-check reads the grant at once and answers 400 ms later.
        orders.delay = 400;
        orders.calls.length = 0;
        const ticked = next(socket, 'tick');
        socket.emit('drop');
        await ticked;
        await next(socket, 'disconnect');
        await withDeadline(
          (async () => {
            while (!orders.calls.some((call) => call.reason === 'recovery')) await sleep(5);
          })(),
          10_000,
          'the recovery re-check',
        );
        // The grant goes, then the removal, while the re-check's rule is still answering yes.
        orders.unshare('1', '2');
        await rooms.removeFromRoom('2', 'order:1');
        assert.equal((await outcome(socket)).ok, true);
        orders.delay = 0;
        // Messages to one socket keep their order: lobby's arrives after order:1's would have.
        const heard: string[] = [];
        socket.on('said', (body: { room: string }) => heard.push(body.room));
        const sentinel = next(socket, 'said');
        await rooms.to('order:1').emit('said', { room: 'order:1' });
        await rooms.to('lobby').emit('said', { room: 'lobby' });
        await sentinel;
        assert.deepEqual(heard, ['lobby']);
        assert.deepEqual(lefts, [{ room: 'order:1', code: 'room_revoked' }]);
        // It lost a room: a fresh start, not a recovery.
        assert.equal(socket.recovered, false);
      } finally {
        socket.close();
      }
    });
  });
}
