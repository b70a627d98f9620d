import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { WebSocket } from 'ws';
import { DEFAULT_WS_MAX_PAYLOAD, WsTicketWsAdapter } from '../../lib/ws/index.js';
import { ticketFor } from '../support/app.js';
import { wsSocketsOf } from '../support/internals.js';
import { signJwt } from '../support/jwt.js';
import { freePort } from '../support/redis-server.js';
import { FrameLog, frameGateway, ticketModule } from './fixtures/gateways.js';
import {
  ask,
  CaptureLogger,
  closeWs,
  closure,
  moduleOf,
  openedWs,
  type StartedWsApp,
  startWsApp,
} from './fixtures/ws-app.js';

/** A regression (no limit) would leave a test waiting for a close that never comes. */
const BOUNDED = { timeout: 15_000 };
const MiB = 1_048_576;
const KiB = 1024;
const NOTE_HEAD = '{"event":"note","data":"';
const NOTE_TAIL = '"}';

/** A `note` message of exactly `bytes` bytes on the wire (ASCII), and the length of its body. */
function note(bytes: number): { message: string; body: number } {
  const body = bytes - NOTE_HEAD.length - NOTE_TAIL.length;
  return { message: NOTE_HEAD + 'x'.repeat(body) + NOTE_TAIL, body };
}

/**
 * Sends a `note` of `bytes` bytes, then `whoami`: the answer arrives after the note was handled
 * (a socket's messages are handled in order), so FrameLog holds it by then.
 */
async function sendNote(ws: WebSocket, bytes: number): Promise<number> {
  const { message, body } = note(bytes);
  ws.send(message);
  await ask(ws, 'whoami');
  return body;
}

/** Sends a `note` of `bytes` bytes and resolves the close code the client then sees. */
async function closeCodeAfter(ws: WebSocket, bytes: number): Promise<number> {
  const closed = closure(ws);
  ws.send(note(bytes).message);
  return (await closed).code;
}

describe('raw WebSocket message size limit: the 1 MiB default', () => {
  let server: StartedWsApp;
  let sidePort: number;
  const ticket = (sub: string) => ticketFor(server.url, signJwt({ sub }));
  const open = async (path: string, sub = 'alice') =>
    openedWs(`${server.wsUrl}${path}?uuid=${await ticket(sub)}`);
  const log = () => server.app.get(FrameLog);

  before(async () => {
    sidePort = await freePort();
    server = await startWsApp({
      imports: [ticketModule()],
      providers: [
        FrameLog,
        frameGateway('/frames'),
        frameGateway('/frames/other'),
        frameGateway('/frames/large', 2 * MiB),
        frameGateway('/frames/small', 64 * KiB),
        frameGateway('/side', undefined, sidePort),
      ],
    });
  });
  after(() => server.close());

  it('is 1 MiB (1,048,576 bytes)', () => {
    assert.equal(DEFAULT_WS_MAX_PAYLOAD, MiB);
  });

  it(
    'delivers a message of exactly 1 MiB, the largest the default allows, to the handler',
    BOUNDED,
    async () => {
      const ws = await open('/frames');
      const body = await sendNote(ws, MiB);
      assert.equal(log().notes.at(-1), `/frames ${body}`);
      await closeWs(ws);
    },
  );

  it(
    'closes a socket whose message is one byte over 1 MiB with 1009, and no handler sees it',
    BOUNDED,
    async () => {
      const ws = await open('/frames');
      const notes = log().notes.length;
      assert.equal(await closeCodeAfter(ws, MiB + 1), 1009);
      assert.equal(log().notes.length, notes);
    },
  );

  it(
    'counts a message sent in fragments as a whole: two 600 KiB fragments close with 1009',
    BOUNDED,
    async () => {
      const ws = await open('/frames');
      const notes = log().notes.length;
      const closed = closure(ws);
      const { message } = note(1200 * KiB);
      ws.send(message.slice(0, 600 * KiB), { fin: false });
      ws.send(message.slice(600 * KiB), { fin: true });
      assert.equal((await closed).code, 1009);
      assert.equal(log().notes.length, notes);
    },
  );

  it(
    "drops the closed socket from its user's registry and leaves the user's other socket open",
    BOUNDED,
    async () => {
      const [big, other] = [await open('/frames', 'frank'), await open('/frames', 'frank')];
      assert.equal(wsSocketsOf(server.adapter, 'frank'), 2);
      const gone = once(log().disconnects, 'disconnect');
      assert.equal(await closeCodeAfter(big, 2 * MiB), 1009);
      assert.deepEqual(await gone, ['frank']);
      assert.equal(wsSocketsOf(server.adapter, 'frank'), 1);
      assert.deepEqual(await ask(other, 'whoami'), { id: 'frank' });
      await closeWs(other);
    },
  );

  it(
    'keeps serving after four parallel 3 MiB messages: a new ticket and connection still work',
    BOUNDED,
    async () => {
      const sockets = await Promise.all(
        ['g1', 'g2', 'g3', 'g4'].map((sub) => open('/frames', sub)),
      );
      const codes = await Promise.all(sockets.map((ws) => closeCodeAfter(ws, 3 * MiB)));
      assert.deepEqual(codes, [1009, 1009, 1009, 1009]);
      const ws = await open('/frames', 'g1');
      const body = await sendNote(ws, 1000);
      assert.equal(log().notes.at(-1), `/frames ${body}`);
      await closeWs(ws);
    },
  );

  it('applies to every gateway sharing the HTTP server, on any path', BOUNDED, async () => {
    const ws = await open('/frames/other');
    assert.equal(await closeCodeAfter(ws, MiB + 1), 1009);
  });

  it('applies to a gateway on its own port', BOUNDED, async () => {
    const ws = await openedWs(`ws://127.0.0.1:${sidePort}/side?uuid=${await ticket('alice')}`);
    const body = await sendNote(ws, MiB);
    assert.equal(log().notes.at(-1), `/side ${body}`);
    assert.equal(await closeCodeAfter(ws, MiB + 1), 1009);
  });

  for (const [size, path, cap] of [
    ['larger', '/frames/large', 2 * MiB],
    ['smaller', '/frames/small', 64 * KiB],
  ] as const) {
    it(
      `lets a gateway's own ${size} maxPayload win: ${cap} bytes delivered, one byte more closed with 1009`,
      BOUNDED,
      async () => {
        const ws = await open(path);
        const body = await sendNote(ws, cap);
        assert.equal(log().notes.at(-1), `${path} ${body}`);
        assert.equal(await closeCodeAfter(ws, cap + 1), 1009);
      },
    );
  }
});

describe('raw WebSocket message size limit: the adapter option', () => {
  let server: StartedWsApp;
  let sidePort: number;
  const open = async (path: string) =>
    openedWs(`${server.wsUrl}${path}?uuid=${await ticketFor(server.url, signJwt({ sub: 'ann' }))}`);
  const log = () => server.app.get(FrameLog);

  before(async () => {
    sidePort = await freePort();
    server = await startWsApp(
      {
        imports: [ticketModule()],
        providers: [
          FrameLog,
          frameGateway('/frames'),
          frameGateway('/frames/other'),
          frameGateway('/frames/large', 2 * MiB),
          frameGateway('/side', undefined, sidePort),
        ],
      },
      { adapter: { maxPayload: 4 * KiB } },
    );
  });
  after(() => server.close());

  for (const path of ['/frames', '/frames/other']) {
    it(
      `sets the limit of a gateway without its own (${path}): 4 KiB delivered, one byte more closed with 1009`,
      BOUNDED,
      async () => {
        const ws = await open(path);
        const body = await sendNote(ws, 4 * KiB);
        assert.equal(log().notes.at(-1), `${path} ${body}`);
        assert.equal(await closeCodeAfter(ws, 4 * KiB + 1), 1009);
      },
    );
  }

  it('sets the limit of a gateway on its own port', BOUNDED, async () => {
    const uuid = await ticketFor(server.url, signJwt({ sub: 'ann' }));
    const ws = await openedWs(`ws://127.0.0.1:${sidePort}/side?uuid=${uuid}`);
    assert.equal(await closeCodeAfter(ws, 4 * KiB + 1), 1009);
  });

  it("yields to a gateway's own maxPayload", BOUNDED, async () => {
    const ws = await open('/frames/large');
    const body = await sendNote(ws, MiB);
    assert.equal(log().notes.at(-1), `/frames/large ${body}`);
    await closeWs(ws);
  });
});

describe('raw WebSocket protocol errors in the log', () => {
  it(
    "logs 20 oversized messages as one throttled line with ws's code, no stack, no payload",
    BOUNDED,
    async () => {
      const logger = new CaptureLogger();
      const server = await startWsApp(
        { imports: [ticketModule()], providers: [FrameLog, frameGateway('/frames')] },
        { adapter: { maxPayload: 4 * KiB }, logger },
      );
      try {
        const codes = await Promise.all(
          Array.from({ length: 20 }, async () => {
            const uuid = await ticketFor(server.url, signJwt({ sub: 'ann' }));
            const ws = await openedWs(`${server.wsUrl}/frames?uuid=${uuid}`);
            return closeCodeAfter(ws, 4 * KiB + 1);
          }),
        );
        assert.deepEqual(new Set(codes), new Set([1009]));
        const lines = logger.lines.filter((line) => line.includes('client protocol error'));
        assert.equal(lines.length, 1, logger.lines.join('\n'));
        assert.match(lines[0], /WS_ERR_UNSUPPORTED_MESSAGE_LENGTH/);
        assert.doesNotMatch(lines[0], /\bat |xxxx/);
        assert.ok(
          !logger.lines.some((line) => /RangeError|Max payload size exceeded.*\bat /.test(line)),
        );
      } finally {
        await server.close();
      }
    },
  );
});

describe('WsTicketWsAdapter maxPayload validation', () => {
  let app: INestApplication;
  before(async () => {
    app = await NestFactory.create(moduleOf({}), { logger: false });
  });
  after(() => app.close());

  const invalid: unknown[] = [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, '1mb'];
  for (const maxPayload of invalid) {
    const label = typeof maxPayload === 'string' ? `'${maxPayload}'` : String(maxPayload);
    it(`refuses maxPayload ${label} at construction, saying what to pass`, () => {
      assert.throws(
        () => new WsTicketWsAdapter(app, { maxPayload: maxPayload as number }),
        /^Error: WsTicketWsAdapter: `maxPayload` must be a whole number of bytes from 1 to 2147483647 \(got .+\); pass e\.g\. 1_048_576 for 1 MiB, or leave it out for the 1 MiB default\.$/,
      );
    });
  }

  it('accepts 1 and 2147483647, the bounds ws can enforce', () => {
    assert.ok(new WsTicketWsAdapter(app, { maxPayload: 1 }));
    assert.ok(new WsTicketWsAdapter(app, { maxPayload: 2 ** 31 - 1 }));
  });
});
