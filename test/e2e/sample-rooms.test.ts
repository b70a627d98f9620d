// The sample's rooms (issue #18) over both of its transports, as real processes: the rule of
// `order:{id}` (owner and shares), `lobby` for everyone, `room-message`, and the share routes whose
// unshare takes a user out of the room on the spot.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, before, describe, it } from 'node:test';
import { login, type SampleProcess, startSample } from '../support/sample-process.js';
import {
  changeShare,
  postOrder,
  type RoomClient,
  SAMPLE_TRANSPORTS,
} from '../support/sample-rooms.js';

for (const transport of SAMPLE_TRANSPORTS) {
  describe(`The sample's rooms over ${transport.name}`, () => {
    let sample: SampleProcess;
    let url: string;
    const tokens: Record<string, string> = {};
    const clients: RoomClient[] = [];

    /** A fresh chat socket of `user` (closed after the test). */
    const open = async (user: string) => {
      const client = await transport.open(url, tokens[user]);
      clients.push(client);
      return client;
    };
    /** A socket of `user` already in `rooms` (each join must be admitted). */
    const inRooms = async (user: string, ...rooms: string[]) => {
      const client = await open(user);
      for (const room of rooms) assert.deepEqual(await client.join(room), { ok: true, room });
      return client;
    };
    /** Texts of the room messages a client received in `room`. */
    const texts = (client: RoomClient, room: string) =>
      client.messages.filter((message) => message.room === room).map((message) => message.text);
    /**
     * Sends a marker to `lobby` from `from` and waits until every client in `to` has it: everything
     * `from` sent before has been delivered (or never will be) once the marker arrived after it.
     */
    const settle = async (from: RoomClient, ...to: RoomClient[]) => {
      const marker = `marker ${randomUUID()}`;
      from.say('lobby', marker);
      for (const client of to) {
        await client.until(() => texts(client, 'lobby').includes(marker), `the marker ${marker}`);
      }
    };

    before(async () => {
      sample = await startSample({}, transport.entry);
      url = sample.url;
      for (const user of ['alice', 'bob', 'carol']) tokens[user] = await login(url, user);
    });
    afterEach(async () => {
      await Promise.all(clients.splice(0).map((client) => client.close()));
      // Every test starts with order 1 shared with no one (unshare of a share never made: 204).
      for (const user of ['bob', 'carol']) {
        await changeShare(url, tokens.alice, '1', 'unshare', user);
      }
    });
    after(() => sample?.stop());

    it('admits alice to order:1, the room of her own order, and to lobby', async () => {
      const alice = await open('alice');
      assert.deepEqual(await alice.join('order:1'), { ok: true, room: 'order:1' });
      assert.deepEqual(await alice.join('lobby'), { ok: true, room: 'lobby' });
    });

    it('admits every user to lobby (rooms: { lobby: true })', async () => {
      for (const user of ['bob', 'carol']) {
        assert.deepEqual(await (await open(user)).join('lobby'), { ok: true, room: 'lobby' });
      }
    });

    it("refuses bob order:1, alice's order, with room_forbidden, and admits him to order:2, his own", async () => {
      const bob = await open('bob');
      assert.deepEqual(await bob.join('order:1'), {
        ok: false,
        room: 'order:1',
        code: 'room_forbidden',
      });
      assert.deepEqual(await bob.join('order:2'), { ok: true, room: 'order:2' });
    });

    it('refuses an order that does not exist, and a room no rule matches, with room_forbidden', async () => {
      const alice = await open('alice');
      for (const room of ['order:3', 'order:1:items', 'orders', 'lobby:2']) {
        assert.deepEqual(await alice.join(room), { ok: false, room, code: 'room_forbidden' });
      }
    });

    it('admits bob to order:1 once alice shared it with him, and delivers her messages there to him', async () => {
      const alice = await inRooms('alice', 'order:1');
      const bob = await open('bob');
      assert.equal((await bob.join('order:1')).code, 'room_forbidden');

      await changeShare(url, tokens.alice, '1', 'share', 'bob');
      assert.deepEqual(await bob.join('order:1'), { ok: true, room: 'order:1' });

      alice.say('order:1', 'Order 1 ships on Monday.');
      const expected = { room: 'order:1', from: 'alice', text: 'Order 1 ships on Monday.' };
      for (const client of [alice, bob]) {
        await client.until(() => texts(client, 'order:1').length > 0, 'the room message');
        assert.deepEqual(client.messages, [expected]);
      }
    });

    it('delivers a room message to the room’s members, the sender included, and never to a non-member', async () => {
      const alice = await inRooms('alice', 'order:1', 'lobby');
      const carol = await inRooms('carol', 'lobby');
      alice.say('order:1', 'For order 1 only.');
      await settle(alice, alice, carol);
      assert.deepEqual(texts(alice, 'order:1'), ['For order 1 only.']);
      assert.deepEqual(texts(carol, 'order:1'), []);
      assert.deepEqual(carol.refusals, []);
    });

    it('refuses a room message from a non-member with room_forbidden and delivers it to no one', async () => {
      const alice = await inRooms('alice', 'order:1', 'lobby');
      const bob = await inRooms('bob', 'lobby');
      bob.say('order:1', 'Let me in.');
      await bob.until(() => bob.refusals.length > 0, 'the refusal');
      assert.equal(bob.refusals[0].code, 'room_forbidden');
      await settle(bob, alice, bob);
      assert.deepEqual(texts(alice, 'order:1'), []);
      assert.deepEqual(texts(bob, 'order:1'), []);
    });

    it('refuses a room message to a room the sender may join but did not, with room_forbidden', async () => {
      const alice = await inRooms('alice', 'lobby');
      alice.say('order:1', 'Not joined yet.');
      await alice.until(() => alice.refusals.length > 0, 'the refusal');
      assert.equal(alice.refusals[0].code, 'room_forbidden');
      await settle(alice, alice);
      assert.deepEqual(texts(alice, 'order:1'), []);
    });

    it('refuses a room message without a room string with room_forbidden', async () => {
      const alice = await inRooms('alice', 'lobby');
      for (const room of [undefined, 42, ['lobby']]) {
        alice.say(room as unknown as string, 'Where to?');
      }
      await alice.until(() => alice.refusals.length === 3, 'three refusals');
      assert.deepEqual(
        alice.refusals.map((refusal) => refusal.code),
        ['room_forbidden', 'room_forbidden', 'room_forbidden'],
      );
    });

    it("refuses a room message to the module's own rooms and to a socket-id room, which every socket is in unasked, with room_forbidden", async () => {
      const alice = await inRooms('alice', 'lobby');
      const rooms = ['ws-ticket:user:1', 'ws-ticket:user:2', 'ws-ticket:x'];
      if (alice.socketId) rooms.push(alice.socketId);
      for (const room of rooms) alice.say(room, 'Hi.');
      await alice.until(() => alice.refusals.length === rooms.length, 'a refusal each');
      assert.deepEqual(
        alice.refusals.map((refusal) => refusal.code),
        rooms.map(() => 'room_forbidden'),
      );
      await settle(alice, alice);
      assert.deepEqual(
        alice.messages.filter((message) => message.room !== 'lobby'),
        [],
      );
    });

    it('refuses a room message whose text is empty or too long with message_invalid, like message', async () => {
      const alice = await inRooms('alice', 'lobby');
      for (const text of ['', '   ', 'x'.repeat(2001)]) alice.say('lobby', text);
      await alice.until(() => alice.refusals.length === 3, 'three refusals');
      assert.deepEqual(
        alice.refusals.map((refusal) => refusal.code),
        ['message_invalid', 'message_invalid', 'message_invalid'],
      );
      await settle(alice, alice);
      assert.equal(texts(alice, 'lobby').length, 1);
    });

    it('takes bob out of order:1 when alice unshares it: ws-ticket:left room_revoked, no more of its messages, no way back in', async () => {
      await changeShare(url, tokens.alice, '1', 'share', 'bob');
      const alice = await inRooms('alice', 'order:1', 'lobby');
      const bob = await inRooms('bob', 'order:1', 'lobby');
      const bobElsewhere = await inRooms('bob', 'order:1');

      await changeShare(url, tokens.alice, '1', 'unshare', 'bob');
      for (const client of [bob, bobElsewhere]) {
        await client.until(() => client.lefts.length > 0, 'ws-ticket:left');
        assert.deepEqual(client.lefts, [{ room: 'order:1', code: 'room_revoked' }]);
      }

      alice.say('order:1', 'Bob is no longer on this order.');
      await settle(alice, alice, bob);
      assert.deepEqual(texts(alice, 'order:1'), ['Bob is no longer on this order.']);
      assert.deepEqual(texts(bob, 'order:1'), []);
      assert.deepEqual(alice.lefts, []);

      bob.say('order:1', 'Still here?');
      await bob.until(() => bob.refusals.length > 0, 'the refusal');
      assert.equal(bob.refusals[0].code, 'room_forbidden');
      assert.equal((await bob.join('order:1')).code, 'room_forbidden');
      // Other rooms stay as they were.
      assert.deepEqual(await bob.leave('lobby'), { ok: true, room: 'lobby' });
    });

    it('answers share and unshare with 204, and repeats of either with 204 too', async () => {
      for (const action of ['share', 'share', 'unshare', 'unshare'] as const) {
        const response = await postOrder(url, tokens.alice, '1', action, { username: 'carol' });
        assert.equal(response.status, 204, action);
        assert.equal(await response.text(), '');
      }
    });

    it("answers 403 forbidden to a user sharing or unsharing another user's order", async () => {
      for (const action of ['share', 'unshare'] as const) {
        const response = await postOrder(url, tokens.bob, '1', action, { username: 'bob' });
        assert.equal(response.status, 403, action);
        assert.deepEqual(await response.json(), {
          statusCode: 403,
          error: 'Forbidden',
          code: 'forbidden',
          message: 'Only the owner of an order may share it.',
        });
      }
      const bob = await open('bob');
      assert.equal((await bob.join('order:1')).code, 'room_forbidden');
    });

    it('answers 404 not_found to an unknown order or an unknown username', async () => {
      for (const action of ['share', 'unshare'] as const) {
        for (const [order, username, message] of [
          ['3', 'bob', 'There is no such order.'],
          ['order-1', 'bob', 'There is no such order.'],
          ['1', 'mallory', 'There is no such user.'],
          ['1', 'BOB', 'There is no such user.'],
        ]) {
          const response = await postOrder(url, tokens.alice, order, action, { username });
          assert.equal(response.status, 404, `${action} ${order} ${username}`);
          assert.deepEqual(await response.json(), {
            statusCode: 404,
            error: 'Not Found',
            code: 'not_found',
            message,
          });
        }
      }
    });

    it('answers 400 bad_request to a malformed body, and to the owner naming herself', async () => {
      for (const action of ['share', 'unshare'] as const) {
        for (const body of [{}, { username: '' }, { username: 42 }, { user: 'bob' }, [], 'null']) {
          const response = await postOrder(url, tokens.alice, '1', action, body);
          assert.equal(response.status, 400, `${action} ${JSON.stringify(body)}`);
          assert.equal(((await response.json()) as { code: string }).code, 'bad_request');
        }
        const invalid = await postOrder(url, tokens.alice, '1', action, '{"username":');
        assert.equal(invalid.status, 400);
        assert.deepEqual(await invalid.json(), {
          statusCode: 400,
          error: 'Bad Request',
          code: 'bad_request',
          message: 'The request body is not valid JSON.',
        });
        const herself = await postOrder(url, tokens.alice, '1', action, { username: 'alice' });
        assert.equal(herself.status, 400);
      }
      // Alice is still in her own order's room.
      assert.deepEqual(await (await open('alice')).join('order:1'), { ok: true, room: 'order:1' });
    });

    it('answers 401 to share and unshare without a valid bearer token', async () => {
      for (const action of ['share', 'unshare'] as const) {
        for (const token of [undefined, 'not-a-jwt']) {
          const response = await postOrder(url, token, '1', action, { username: 'bob' });
          assert.equal(response.status, 401, `${action} with ${token}`);
        }
      }
    });

    it('logged no unhandled error', () => {
      assert.doesNotMatch(sample.output(), /ExceptionsHandler|Unhandled|Internal server error/i);
    });
  });
}
