import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { Socket } from 'socket.io-client';
import { WebSocket } from 'ws';
import type { WsTicketModuleOptions, WsTicketRoomAck } from '../../lib/index.js';
import { type StartedApp, startApp, ticketFor } from '../support/app.js';
import { signJwt } from '../support/jwt.js';
import { ask, connected } from '../support/sockets.js';
import { openedWs, type StartedWsApp, startWsApp } from '../ws/fixtures/ws-app.js';
import { admitsRoom, CountingRooms, countingRuleMatches } from './fixtures/counting-rooms.js';
import { FrameLog } from './fixtures/frame-log.js';
import { RoomsChatGateway, type RoomUser, roomsModule } from './fixtures/rooms-app.js';
import { RoomsWsGateway } from './fixtures/rooms-ws-gateway.js';
import { withDeadline } from './fixtures/waits.js';

// Property-based fuzzing of the room requests on both transports: whatever a client sends as a
// `ws-ticket:join` or `ws-ticket:leave` payload gets exactly one answer of the documented shape
// with the code the contract gives it, the socket stays open and usable, and no rule runs for a
// malformed or reserved name. The expected answer is restated here from the contract (not
// imported from lib/). A failure prints fast-check's seed and shrunk counterexample; FUZZ_SEED
// replays a seed, FUZZ_RUNS scales the run counts. The HTTP platform plays no part here: Express.

const RUN_SCALE = Number(process.env.FUZZ_RUNS ?? 1) || 1;
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);

function runs<T>(numRuns: number): fc.Parameters<T> {
  return { numRuns: Math.max(1, Math.round(numRuns * RUN_SCALE)), seed: SEED };
}

const JOIN = 'ws-ticket:join';
const LEAVE = 'ws-ticket:leave';
type RoomEvent = typeof JOIN | typeof LEAVE;

/** The codes a join or leave may be answered with (README's table). */
const ROOM_CODES: ReadonlySet<string> = new Set([
  'room_malformed',
  'room_forbidden',
  'room_limit',
  'rate_limited',
  'room_unavailable',
]);

// ---- The contract, restated ------------------------------------------------------------------

/** A room name: 1 to 200 of `A-Z a-z 0-9 : _ . -`. */
const ROOM_NAME = /^[A-Za-z0-9:_.-]{1,200}$/;
/** A Socket.IO socket id's shape: never a client's room. */
const SOCKET_ID = /^[A-Za-z0-9_-]{20}$/;

/** What the server must answer to `payload` (as it parsed it), and whether a rule runs for it. */
function expectedAnswer(
  event: RoomEvent,
  payload: unknown,
  joined: ReadonlySet<string> = new Set(),
): { ack: WsTicketRoomAck; asked: boolean } {
  const refuse = (room: string | null, code: 'room_malformed' | 'room_forbidden') => ({
    ack: { ok: false as const, room, code },
    asked: false,
  });
  const room =
    typeof payload === 'object' &&
    payload !== null &&
    !Array.isArray(payload) &&
    Object.hasOwn(payload, 'room')
      ? (payload as { room: unknown }).room
      : undefined;
  if (typeof room !== 'string' || room.length > 200) return refuse(null, 'room_malformed');
  if (!ROOM_NAME.test(room)) return refuse(room, 'room_malformed');
  if (room.startsWith('ws-ticket:') || SOCKET_ID.test(room)) return refuse(room, 'room_forbidden');
  if (event === LEAVE || joined.has(room)) return { ack: { ok: true, room }, asked: false };
  // Deny by default: no rule matches, none runs.
  if (!countingRuleMatches(room)) return refuse(room, 'room_forbidden');
  return {
    ack: admitsRoom(room) ? { ok: true, room } : { ok: false, room, code: 'room_forbidden' },
    asked: true,
  };
}

/** The room an answer must echo for a refused request (`rate_limited` echoes it too). */
const echoOf = (payload: unknown) => expectedAnswer(LEAVE, payload).ack.room;

/** Checks the documented shape: `{ ok: true, room }` or `{ ok: false, room, code }`. */
function assertCoded(answer: unknown): asserts answer is WsTicketRoomAck {
  assert.ok(typeof answer === 'object' && answer !== null, `not an object: ${String(answer)}`);
  const ack = answer as Record<string, unknown>;
  if (ack.ok === true) {
    assert.deepEqual(Object.keys(ack).sort(), ['ok', 'room']);
    assert.equal(typeof ack.room, 'string');
  } else {
    assert.equal(ack.ok, false);
    assert.deepEqual(Object.keys(ack).sort(), ['code', 'ok', 'room']);
    assert.ok(ack.room === null || typeof ack.room === 'string', 'room is a string or null');
    assert.ok(ROOM_CODES.has(String(ack.code)), `undocumented code ${String(ack.code)}`);
  }
}

/**
 * What kinds of answer a property's runs met, so a generator that drifts (no huge payload, no
 * admitted name…) fails the test instead of passing it vacuously.
 */
class Coverage {
  private readonly kinds = new Set<string>();
  private largest = 0;

  note(event: RoomEvent, expected: { ack: WsTicketRoomAck; asked: boolean }, bytes: number): void {
    const { ack, asked } = expected;
    const kind = ack.ok
      ? `${event} ok`
      : `${event} ${ack.code}${ack.room === null ? ' null' : ''}${asked ? ' asked' : ''}`;
    this.kinds.add(kind);
    this.largest = Math.max(this.largest, bytes);
  }

  check(): void {
    for (const kind of [
      'ws-ticket:join ok',
      'ws-ticket:join room_forbidden asked',
      'ws-ticket:join room_forbidden',
      'ws-ticket:join room_malformed',
      'ws-ticket:join room_malformed null',
      'ws-ticket:leave ok',
      'ws-ticket:leave room_forbidden',
      'ws-ticket:leave room_malformed null',
    ]) {
      assert.ok(this.kinds.has(kind), `no run met: ${kind} (met: ${[...this.kinds].join(', ')})`);
    }
    assert.ok(this.largest > 50_000, `no payload over 50 KB (largest ${this.largest} bytes)`);
  }
}

// ---- Arbitraries ------------------------------------------------------------------------------

const NAME_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:_.-'.split('');
const ID_CHARS = NAME_CHARS.filter((char) => char !== ':' && char !== '.');

/** Strings of the room charset, `:` separators included (empty parts too). */
const nameLike = fc.string({ unit: fc.constantFrom(...NAME_CHARS), minLength: 1, maxLength: 40 });
/** Names the counting rules admit: `ok…` with up to four parts. */
const admitted = fc
  .tuple(
    fc.string({ unit: fc.constantFrom(...ID_CHARS), maxLength: 10 }),
    fc.array(fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 1, maxLength: 8 }), {
      maxLength: 3,
    }),
  )
  .map(([head, rest]) => [`ok${head}`, ...rest].join(':'));
/** Socket id shapes, and the lengths either side (which are ordinary names). */
const socketIdLike = fc
  .integer({ min: 19, max: 21 })
  .chain((length) =>
    fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: length, maxLength: length }),
  );
/**
 * Bytes a very long room takes on the wire at most. A request stays under the transports' own
 * limits (Socket.IO's maxHttpBufferSize and ws's maxPayload, 1 MB each), past which the transport,
 * not the module, closes the connection: three arguments of {@link PAYLOAD_BUDGET} bytes do.
 */
const WIRE_BUDGET = 250_000;
const PAYLOAD_BUDGET = 300_000;
/** Bytes of a string inside JSON text, as UTF-8. */
const wireSize = (text: string) => Buffer.byteLength(JSON.stringify(text)) - 2;
const LONE_SURROGATES = ['\ud800', '\udbff', '\udc00', '\udfff', '\ud83d'];

/** Room values: names, near misses, reserved names, unicode, and the very long. */
const roomText: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: nameLike },
  { weight: 4, arbitrary: admitted },
  { weight: 2, arbitrary: socketIdLike },
  {
    weight: 3,
    arbitrary: fc.oneof(
      fc.string({ maxLength: 20 }).map((rest) => `ws-ticket:${rest}`),
      nameLike.map((rest) => `ws-ticket:${rest}`),
      fc.constantFrom(
        'ws-ticket:',
        'ws-ticket:user:1',
        'ws-ticket:user:2',
        'WS-TICKET:user:1',
        'ws-ticket',
        'ws-ticketx:1',
        'ok:ws-ticket:user:1',
      ),
    ),
  },
  {
    weight: 3,
    arbitrary: fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 20 }),
      fc.string({ unit: 'binary', maxLength: 20 }),
      fc
        .tuple(admitted, fc.constantFrom(...LONE_SURROGATES), fc.boolean())
        .map(([name, lone, first]) => (first ? `${lone}${name}` : `${name}${lone}`)),
      fc.constantFrom(
        '',
        ' ',
        'ok\n',
        'ok ',
        ' ok',
        'ok\u0000',
        '\u200bok',
        'okä',
        'ok/1',
        'ok 1',
        'ok\\1',
        'ok%3A1',
        '𝒪k',
        '١٢٣',
        '__proto__',
        'constructor',
        'toString',
        'hasOwnProperty',
      ),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.integer({ min: 195, max: 205 }).map((length) => `ok${'a'.repeat(length - 2)}`),
  },
  {
    weight: 1,
    // Up to WIRE_BUDGET bytes on the wire (a lone surrogate is written \uXXXX: 6 bytes).
    arbitrary: fc
      .tuple(
        fc.integer({ min: 1_000, max: WIRE_BUDGET }),
        fc.constantFrom('a', 'ok', 'é', ':', '\ud800'),
      )
      .map(([bytes, unit]) => unit.repeat(Math.max(1, Math.floor(bytes / wireSize(unit))))),
  },
);

/** Keys that trip naive object handling, next to the real one. */
const TRICKY_KEY = fc.constantFrom(
  'room',
  'room',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'Room',
  'room ',
  'rooms',
);

/** Payload values a JSON client can send. */
const payloadValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ room: roomText }) },
  { weight: 2, arbitrary: fc.record({ room: roomText, extra: fc.jsonValue({ maxDepth: 2 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      room: fc.oneof(
        fc.jsonValue({ maxDepth: 2 }),
        fc.array(roomText, { maxLength: 2 }),
        fc.record({ room: roomText }),
        fc.record({ toString: roomText }),
        fc.integer(),
        fc.double(),
        fc.boolean(),
        fc.constant(null),
      ),
    }),
  },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: roomText },
  { weight: 1, arbitrary: fc.array(fc.record({ room: roomText }), { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.record({ room: fc.record({ room: fc.record({ room: roomText }) }) }) },
  {
    weight: 2,
    arbitrary: fc.dictionary(TRICKY_KEY, fc.oneof(roomText, fc.record({ room: roomText })), {
      maxKeys: 4,
    }),
  },
);

/**
 * Payloads as JSON text, including what JSON.stringify never writes (own `__proto__`, twins), of
 * at most {@link PAYLOAD_BUDGET} bytes.
 */
const payloadText: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 10, arbitrary: payloadValue.map((value) => JSON.stringify(value) ?? 'null') },
    {
      weight: 3,
      arbitrary: fc.oneof(
        roomText.map((room) => `{"__proto__":{"room":${JSON.stringify(room)}}}`),
        roomText.map((room) => `{"constructor":{"prototype":{"room":${JSON.stringify(room)}}}}`),
        roomText.map((room) => `{"__proto__":{"room":"okay"},"room":${JSON.stringify(room)}}`),
        fc
          .tuple(roomText, roomText)
          .map(([a, b]) => `{"room":${JSON.stringify(a)},"room":${JSON.stringify(b)}}`),
        roomText.map((room) => `{"room":${JSON.stringify(room)},"__proto__":null}`),
      ),
    },
  )
  .filter((text) => Buffer.byteLength(text) <= PAYLOAD_BUDGET);

const roomEvent = fc.constantFrom<RoomEvent>(JOIN, LEAVE);

/** What the server parses out of a text frame (ws turns unpaired surrogates into U+FFFD). */
const parsedFromWire = (text: string): unknown =>
  JSON.parse(Buffer.from(text, 'utf8').toString('utf8'));

// ---- Apps ----------------------------------------------------------------------------------------

/** Rooms only the counting rules decide; bounds out of the way unless a test sets them. */
const fuzzOptions = (
  options: Partial<WsTicketModuleOptions<RoomUser>> = {},
): Partial<WsTicketModuleOptions<RoomUser>> => ({
  rooms: {},
  maxRoomsPerSocket: 100,
  roomJoinLimit: { limit: 1_000_000, window: 60 },
  ...options,
});

const BOUND = 5000;

describe('Room requests on Socket.IO under arbitrary payloads', () => {
  let started: StartedApp;
  let counting: CountingRooms;
  let socket: Socket;
  /** Every event the server emitted to the socket (acks are not events). */
  const events: Array<[string, unknown]> = [];

  before(async () => {
    started = await startApp({
      imports: [roomsModule(fuzzOptions())],
      providers: [CountingRooms, RoomsChatGateway],
    });
    counting = started.app.get(CountingRooms);
    socket = await open();
    socket.onAny((event: string, payload: unknown) => events.push([event, payload]));
  });
  after(async () => {
    socket?.close();
    await started.close();
  });

  async function open(): Promise<Socket> {
    const uuid = await ticketFor(started.url, signJwt({ sub: '1' }));
    return connected(`${started.url}/chat`, { auth: { uuid } });
  }

  /** Emits with an ack; the payload as the server parsed it is `args[0]`. */
  const request = (event: RoomEvent, args: unknown[]) =>
    withDeadline(
      socket.timeout(BOUND).emitWithAck(event, ...args) as Promise<unknown>,
      BOUND * 2,
      `${event} ack`,
    );

  it('answers every join and leave, with any arguments, exactly as the contract says, and runs a rule only for names a rule matches', async () => {
    const coverage = new Coverage();
    await fc.assert(
      fc.asyncProperty(roomEvent, fc.array(payloadText, { maxLength: 3 }), async (event, texts) => {
        const args = texts.map((text) => JSON.parse(text) as unknown);
        // What the server reads: the first argument, after the wire's JSON round trip.
        const payload = args.length === 0 ? undefined : parsedFromWire(JSON.stringify(args[0]));
        const expected = expectedAnswer(event, payload);
        coverage.note(event, expected, Buffer.byteLength(JSON.stringify(args)));
        const calls = counting.calls.length;
        const from = events.length;

        const answer = await request(event, args);
        assertCoded(answer);
        assert.deepEqual(answer, expected.ack);
        assert.equal(counting.calls.length - calls, expected.asked ? 1 : 0, 'rule calls');
        assert.ok(socket.connected, 'the socket was closed');
        // Usable: a handler answers, and nothing else was sent meanwhile.
        assert.equal(await ask(socket, 'in', 'lobby'), false);
        assert.deepEqual(events.slice(from), []);
        if (event === JOIN && answer.ok) {
          assert.deepEqual(await request(LEAVE, [{ room: answer.room }]), answer);
        }
      }),
      runs(200),
    );
    coverage.check();
    assert.ok(
      counting.calls.every(({ room }) => ROOM_NAME.test(room) && !room.startsWith('ws-ticket:')),
    );
  });

  it('answers the way the contract says past roomJoinLimit: rate_limited, echoing the room, no rule run', async () => {
    const limited = await startApp({
      imports: [roomsModule(fuzzOptions({ roomJoinLimit: { limit: 20, window: 3600 } }))],
      providers: [CountingRooms, RoomsChatGateway],
    });
    try {
      const rules = limited.app.get(CountingRooms);
      await fc.assert(
        fc.asyncProperty(fc.array(payloadText, { minLength: 21, maxLength: 30 }), async (texts) => {
          const uuid = await ticketFor(limited.url, signJwt({ sub: '2' }));
          const client = await connected(`${limited.url}/chat`, { auth: { uuid } });
          try {
            const joined = new Set<string>();
            for (const [index, text] of texts.entries()) {
              const payload = parsedFromWire(text);
              const calls = rules.calls.length;
              const answer = await withDeadline(
                client.timeout(BOUND).emitWithAck(JOIN, JSON.parse(text)) as Promise<unknown>,
                BOUND * 2,
                'join ack',
              );
              assertCoded(answer);
              if (index < 20) {
                const expected = expectedAnswer(JOIN, payload, joined);
                assert.deepEqual(answer, expected.ack);
                assert.equal(rules.calls.length - calls, expected.asked ? 1 : 0);
                if (answer.ok) joined.add(answer.room);
              } else {
                assert.deepEqual(answer, {
                  ok: false,
                  room: echoOf(payload),
                  code: 'rate_limited',
                });
                assert.equal(rules.calls.length, calls, 'a rule ran past the limit');
              }
            }
            assert.ok(client.connected);
          } finally {
            client.close();
          }
        }),
        runs(25),
      );
    } finally {
      await limited.close();
    }
  });
});

describe('Room requests on raw WebSockets under arbitrary frames', () => {
  let started: StartedWsApp;
  let counting: CountingRooms;
  let ws: WebSocket;
  /** Every frame the server sent. */
  let log: FrameLog;

  before(async () => {
    started = await startWsApp({
      imports: [roomsModule(fuzzOptions())],
      providers: [CountingRooms, RoomsWsGateway],
    });
    counting = started.app.get(CountingRooms);
    ws = await open(started);
    log = new FrameLog(ws);
  });
  after(async () => {
    ws?.terminate();
    await started.close();
  });

  async function open(app: StartedWsApp): Promise<WebSocket> {
    const uuid = await ticketFor(app.url, signJwt({ sub: '1' }));
    return openedWs(`${app.wsUrl}/ws/rooms?uuid=${uuid}`);
  }

  /**
   * A round trip through a gateway handler: the socket is open and usable. Sent after what it
   * follows was answered, so an answer still due to that would be here before it.
   */
  async function roundTrip(): Promise<void> {
    const from = log.frames.length;
    ws.send(JSON.stringify({ event: 'in', data: 'lobby' }));
    await log.until(() => log.of('in', from).length > 0, 'the answer to "in"');
    assert.equal(ws.readyState, WebSocket.OPEN, 'the socket was closed');
    assert.deepEqual(log.of('in', from), [{ event: 'in', data: false }]);
  }

  /** Sends a frame and resolves the answers of `event` it got (waits for the first). */
  async function exchange(frame: string, event: RoomEvent): Promise<unknown[]> {
    const from = log.frames.length;
    ws.send(frame);
    await log.until(() => log.of(event, from).length > 0, `the answer to ${event}`);
    await roundTrip();
    return log.of(event, from).map((answer) => answer.data);
  }

  /** Join and leave frames in the shapes a client may write them. */
  const requestFrame = fc
    .tuple(roomEvent, payloadText, fc.integer({ min: 0, max: 3 }))
    .map(([event, data, shape]) => {
      const name = JSON.stringify(event);
      const frame = [
        `{"event":${name},"data":${data}}`,
        `{"data":${data},"event":${name}}`,
        `{"event":${name}}`,
        `{ "event" : ${name} , "data" : ${data} , "extra" : [1, {"room": "ok"}] }`,
      ][shape] as string;
      return { event, frame };
    });

  it('answers every join and leave frame with exactly one frame as the contract says, and runs a rule only for names a rule matches', async () => {
    const coverage = new Coverage();
    await fc.assert(
      fc.asyncProperty(requestFrame, async ({ event, frame }) => {
        const payload = (parsedFromWire(frame) as { data?: unknown }).data;
        const expected = expectedAnswer(event, payload);
        coverage.note(event, expected, Buffer.byteLength(frame));
        const calls = counting.calls.length;
        const from = log.frames.length;

        const answers = await exchange(frame, event);
        assert.equal(answers.length, 1, `answers: ${JSON.stringify(answers)}`);
        assertCoded(answers[0]);
        assert.deepEqual(answers[0], expected.ack);
        assert.equal(counting.calls.length - calls, expected.asked ? 1 : 0, 'rule calls');
        assert.deepEqual(log.of('ws-ticket:left', from), []);
        const ack = answers[0] as WsTicketRoomAck;
        if (event === JOIN && ack.ok) {
          const left = await exchange(
            JSON.stringify({ event: LEAVE, data: { room: ack.room } }),
            LEAVE,
          );
          assert.deepEqual(left, [ack]);
        }
      }),
      runs(200),
    );
    coverage.check();
  });

  /** Frames that are no join or leave request of the module's, text or binary. */
  const strayFrame: fc.Arbitrary<{ frame: string; binary: boolean }> = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 200 }).map((frame) => ({ frame, binary: false })),
    fc
      .tuple(
        payloadText,
        fc.constantFrom(
          (data: string) => `["ws-ticket:join",${data}]`,
          (data: string) => `{"event":"ws-ticket:joinx","data":${data}}`,
          (data: string) => `{"event":"WS-TICKET:JOIN","data":${data}}`,
          (data: string) => `{"event":"ws-ticket:other","data":${data}}`,
          (data: string) => `{"event":"ws-ticket:","data":${data}}`,
          (data: string) => `{"event":["ws-ticket:join"],"data":${data}}`,
          (data: string) => `{"event":{"ws-ticket:join":1},"data":${data}}`,
          (data: string) => `{"event":"ws-ticket:join","data":${data}`,
          (data: string) => `"ws-ticket:join"${data}`,
          (data: string) => `{"room":"ok","data":${data},"ws-ticket:join":1}`,
        ),
      )
      .map(([data, shape]) => ({ frame: shape(data), binary: false })),
    payloadText.map((data) => ({
      frame: `{"event":"ws-ticket:join","data":${data}}`,
      binary: true,
    })),
    fc.constantFrom('null', '{}', '[]', '"ws-ticket:', '0', 'true').map((frame) => ({
      frame,
      binary: false,
    })),
  );

  it('answers no other frame, text or binary, and runs no rule for it', async () => {
    await fc.assert(
      fc.asyncProperty(strayFrame, async ({ frame, binary }) => {
        const calls = counting.calls.length;
        const from = log.frames.length;
        ws.send(binary ? Buffer.from(frame) : frame, { binary });
        await roundTrip();
        await roundTrip();
        assert.deepEqual(
          log.frames.slice(from).filter((answer) => answer.event !== 'in'),
          [],
          'a stray frame was answered',
        );
        assert.equal(counting.calls.length, calls, 'a rule ran');
      }),
      runs(150),
    );
  });

  it('answers the way the contract says past roomJoinLimit: rate_limited, echoing the room, no rule run', async () => {
    const limited = await startWsApp({
      imports: [roomsModule(fuzzOptions({ roomJoinLimit: { limit: 20, window: 3600 } }))],
      providers: [CountingRooms, RoomsWsGateway],
    });
    try {
      const rules = limited.app.get(CountingRooms);
      await fc.assert(
        fc.asyncProperty(fc.array(payloadText, { minLength: 21, maxLength: 30 }), async (texts) => {
          const client = await open(limited);
          const received = new FrameLog(client);
          const answers = () => received.of(JOIN).map((frame) => frame.data);
          try {
            const joined = new Set<string>();
            for (const [index, text] of texts.entries()) {
              const payload = parsedFromWire(text);
              const calls = rules.calls.length;
              client.send(`{"event":"${JOIN}","data":${text}}`);
              await received.until(() => answers().length > index, 'the join answer');
              const answer = answers()[index];
              assertCoded(answer);
              if (index < 20) {
                const expected = expectedAnswer(JOIN, payload, joined);
                assert.deepEqual(answer, expected.ack);
                assert.equal(rules.calls.length - calls, expected.asked ? 1 : 0);
                if (answer.ok) joined.add(answer.room);
              } else {
                assert.deepEqual(answer, {
                  ok: false,
                  room: echoOf(payload),
                  code: 'rate_limited',
                });
                assert.equal(rules.calls.length, calls, 'a rule ran past the limit');
              }
            }
            assert.equal(answers().length, texts.length);
            assert.equal(client.readyState, WebSocket.OPEN);
          } finally {
            client.terminate();
          }
        }),
        runs(25),
      );
    } finally {
      await limited.close();
    }
  });
});
