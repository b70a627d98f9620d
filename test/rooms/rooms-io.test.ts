import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import { type WsTicketRoomAck, type WsTicketRoomLeft, WsTicketRooms } from '../../lib/index.js';
import { PLATFORMS, type StartedApp, startOn, ticketFor } from '../support/app.js';
import { signJwt } from '../support/jwt.js';
import { ask, connected, next } from '../support/sockets.js';
import { CaptureLogger } from '../ws/fixtures/ws-app.js';
import { OrderRooms, OrdersFixture, RoomsChatGateway, roomsModule } from './fixtures/rooms-app.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const platform of PLATFORMS) {
  const start = startOn(platform);

  describe(`Rooms on Socket.IO [${platform}]`, () => {
    let started: StartedApp;
    let rooms: WsTicketRooms;
    let orders: OrdersFixture;
    const logger = new CaptureLogger();
    const sockets: Socket[] = [];

    before(async () => {
      started = await start(
        {
          imports: [roomsModule({ maxRoomsPerSocket: 4, callbackTimeout: 300 })],
          providers: [OrdersFixture, OrderRooms, RoomsChatGateway],
        },
        { logger },
      );
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

    it('admits a room a rule admits, and its members receive what is sent to it', async () => {
      const alice = await open('1');
      const bob = await open('2');
      assert.deepEqual(await join(alice, { room: 'order:1' }), { ok: true, room: 'order:1' });
      assert.deepEqual(await join(bob, { room: 'lobby' }), { ok: true, room: 'lobby' });
      const received: string[] = [];
      bob.on('said', (body: { room: string }) => received.push(body.room));
      const heard = next<{ text: string }>(alice, 'said');
      assert.equal(await ask(alice, 'say', { room: 'order:1', text: 'hi' }), true);
      assert.deepEqual(await heard, { room: 'order:1', text: 'hi' });
      await ask(bob, 'say', { room: 'lobby', text: 'lobby' });
      assert.deepEqual(received, ['lobby']);
      assert.equal(await isIn(alice, 'order:1'), true);
      assert.equal(orders.calls[0]?.transport, 'socket.io');
      assert.equal(orders.calls[0]?.namespace, '/chat');
      assert.equal(orders.calls[0]?.reason, 'join');
      assert.equal(orders.calls[0]?.userId, '1');
    });

    it('refuses with room_forbidden what no rule matches, a rule refuses, or a rule answers other than true', async () => {
      const bob = await open('2');
      for (const room of [
        'order:1',
        'nothing:1',
        'order',
        'order:1:2',
        'premium:news',
        'truthy:1',
      ]) {
        assert.deepEqual(await join(bob, { room }), { ok: false, room, code: 'room_forbidden' });
        assert.equal(await isIn(bob, room), false);
      }
      const premium = await open('3', { plan: 'premium' });
      assert.deepEqual(await join(premium, { room: 'premium:news' }), {
        ok: true,
        room: 'premium:news',
      });
    });

    it('answers room_malformed to payloads without a well-formed room, and runs no rule', async () => {
      const socket = await open('1');
      const long = `order:${'1'.repeat(300)}`;
      const cases: Array<[unknown, string | null]> = [
        [undefined, null],
        [null, null],
        ['order:1', null],
        [['order:1'], null],
        [{}, null],
        [{ room: 1 }, null],
        [{ room: '' }, ''],
        [{ room: 'order 1' }, 'order 1'],
        [{ room: 'ordér:1' }, 'ordér:1'],
        [{ room: 'order/1' }, 'order/1'],
        [{ room: long }, null],
      ];
      for (const [payload, room] of cases) {
        assert.deepEqual(await join(socket, payload), { ok: false, room, code: 'room_malformed' });
      }
      // A join with no ack at all is taken and answers nothing; the socket lives on.
      socket.emit('ws-ticket:join', { room: 'lobby' });
      assert.equal(orders.calls.length, 0);
      assert.equal(await isIn(socket, 'lobby'), true);
    });

    it("refuses the module's own rooms and socket ids, its own and another's", async () => {
      const alice = await open('1');
      const bob = await open('2');
      for (const room of [
        'ws-ticket:user:2',
        'ws-ticket:user:1',
        'ws-ticket:x',
        bob.id,
        alice.id,
      ]) {
        assert.deepEqual(await join(alice, { room }), { ok: false, room, code: 'room_forbidden' });
      }
      assert.equal(orders.calls.length, 0);
      // Every socket is in these without asking: has() says no, so a handler may gate with it.
      for (const room of ['ws-ticket:user:1', alice.id, 'a b']) {
        assert.equal(await isIn(alice, room as string), false);
      }
    });

    it('refuses room_limit once the socket holds maxRoomsPerSocket rooms, and counts rooms left', async () => {
      const socket = await open('1');
      for (const room of ['lobby', 'order:1', 'premium:x', 'truthy:1'])
        await join(socket, { room });
      for (const room of ['lobby', 'order:1']) await join(socket, { room });
      orders.share('2', '1');
      assert.deepEqual(await join(socket, { room: 'lobby' }), { ok: true, room: 'lobby' });
      assert.equal((await join(socket, { room: 'order:2' })).ok, true);
      // lobby, order:1, order:2 and… premium refused, truthy refused: 3 held, one more fits.
      orders.share('3', '1');
      orders.owners.set('3', '9');
      orders.owners.set('4', '1');
      assert.equal((await join(socket, { room: 'order:4' })).ok, true);
      assert.deepEqual(await join(socket, { room: 'order:3' }), {
        ok: false,
        room: 'order:3',
        code: 'room_limit',
      });
      assert.deepEqual(await ask(socket, 'ws-ticket:leave', { room: 'order:4' }), {
        ok: true,
        room: 'order:4',
      });
      assert.equal((await join(socket, { room: 'order:3' })).ok, true);
    });

    it('answers room_unavailable when a rule does not answer in time, and joins nothing', async () => {
      const socket = await open('1');
      assert.deepEqual(await join(socket, { room: 'hang:1' }), {
        ok: false,
        room: 'hang:1',
        code: 'room_unavailable',
      });
      assert.equal(await isIn(socket, 'hang:1'), false);
    });

    it('fails closed with room_forbidden when a rule throws, logged with its error and never the room', async () => {
      const socket = await open('1');
      const before = logger.lines.length;
      for (let i = 0; i < 5; i++) {
        assert.deepEqual(await join(socket, { room: `boom:secret${i}` }), {
          ok: false,
          room: `boom:secret${i}`,
          code: 'room_forbidden',
        });
      }
      const lines = logger.lines.slice(before).filter((line) => line.includes('rule exploded'));
      assert.equal(lines.length, 1);
      assert.doesNotMatch(logger.lines.join('\n'), /secret\d/);
    });

    it('leaves a room on request; what is sent to it afterwards does not reach the socket', async () => {
      const socket = await open('1');
      await join(socket, { room: 'lobby' });
      assert.deepEqual(await ask(socket, 'ws-ticket:leave', { room: 'lobby' }), {
        ok: true,
        room: 'lobby',
      });
      let heard = 0;
      socket.on('said', () => heard++);
      await rooms.to('lobby').emit('said', {});
      await sleep(100);
      assert.equal(heard, 0);
      assert.deepEqual(await ask(socket, 'ws-ticket:leave', { room: 'ws-ticket:user:1' }), {
        ok: false,
        room: 'ws-ticket:user:1',
        code: 'room_forbidden',
      });
    });

    it('removeFromRoom takes every socket of the user out, each told ws-ticket:left, and leaves others alone', async () => {
      const first = await open('5');
      const second = await open('5');
      const other = await open('6');
      await join(first, { room: 'lobby' });
      await ask(second, 'server-join', 'lobby');
      await join(other, { room: 'lobby' });
      const told = [
        next<WsTicketRoomLeft>(first, 'ws-ticket:left'),
        next<WsTicketRoomLeft>(second, 'ws-ticket:left'),
      ];
      assert.equal(await rooms.removeFromRoom('5', 'lobby'), 2);
      for (const left of await Promise.all(told)) {
        assert.deepEqual(left, { room: 'lobby', code: 'room_revoked' });
      }
      assert.equal(await isIn(first, 'lobby'), false);
      assert.equal(await isIn(second, 'lobby'), false);
      assert.equal(await isIn(other, 'lobby'), true);
      // Joining again is the rule's call: lobby admits.
      assert.equal((await join(first, { room: 'lobby' })).ok, true);
    });

    it('a join racing a removal of its room never survives it (100 races)', async () => {
      orders.delay = 5;
      let socket = await open('2');
      let survivors = 0;
      let refused = 0;
      for (let i = 0; i < 100; i++) {
        // 50 join attempts per socket and window: a fresh socket every 20 races.
        if (i > 0 && i % 20 === 0) socket = await open('2');
        orders.share('1', '2');
        const joining = join(socket, { room: 'order:1' });
        await sleep(i % 10);
        orders.unshare('1', '2');
        await rooms.removeFromRoom('2', 'order:1');
        const answer = await joining;
        if (!answer.ok && answer.code !== 'room_forbidden') refused++;
        if (await isIn(socket, 'order:1')) survivors++;
        await ask(socket, 'ws-ticket:leave', { room: 'order:1' });
        await sleep(20);
      }
      assert.equal(survivors, 0);
      // Every race was one: no join was refused for another reason (rate_limited…).
      assert.equal(refused, 0);
    });

    it('refuses rate_limited past roomJoinLimit, every attempt counted', async () => {
      const socket = await open('7');
      const answers = await Promise.all(
        Array.from({ length: 60 }, () => join(socket, { room: 'lobby' })),
      );
      assert.equal(answers.filter((answer) => answer.ok).length, 50);
      assert.deepEqual(answers.at(-1), { ok: false, room: 'lobby', code: 'rate_limited' });
    });

    it('never passes ws-ticket:join to a gateway handler', async () => {
      const socket = await open('1');
      await join(socket, { room: 'lobby' });
      assert.equal(RoomsChatGateway.snooped, 0);
      assert.ok(logger.lines.some((line) => line.includes("@SubscribeMessage('ws-ticket:join')")));
    });
  });
}
