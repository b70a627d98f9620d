import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { INestApplication } from '@nestjs/common';
import type { Socket as ServerSocket } from 'socket.io';
import { io, type Socket } from 'socket.io-client';
import {
  attachTicketAuth,
  type TicketClientEvent,
  WsTicketError,
  WsTicketIoAdapter,
  WsTicketModule,
  type WsTicketModuleOptions,
  WsTicketService,
  type WsTicketSession,
} from '../../lib/index.js';
import { ChatTestGateway } from '../fixtures/gateways.js';
import { type StartedApp, startApp } from '../support/app.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { ask, next } from '../support/sockets.js';
import { withDeadline } from '../support/stop-child.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The real adapter, recording every ticket that reaches a handshake and, in `refusals`, the code of
 * every handshake it refused.
 */
function recordingAdapter(seen: unknown[], refusals: string[] = []) {
  return (app: INestApplication) =>
    new (class extends WsTicketIoAdapter {
      protected override async authenticate(socket: ServerSocket): Promise<WsTicketSession> {
        seen.push(this.app.get(WsTicketService).ticketFrom(socket.handshake));
        try {
          return await super.authenticate(socket);
        } catch (error) {
          refusals.push(error instanceof WsTicketError ? error.code : String(error));
          throw error;
        }
      }
    })(app);
}

/**
 * What the running test opened, closed after it even when an assertion failed halfway: the clients
 * first, then the apps.
 */
const openedClients: (() => void)[] = [];
const openedApps: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of openedClients.splice(0)) close();
  await Promise.all(openedApps.splice(0).map((close) => close()));
});

/** Starts the app; closed after the test (a `close()` of the test's own is not repeated). */
async function start(
  seen: unknown[],
  options: {
    port?: number;
    prefix?: string;
    refusals?: string[];
    allowedOrigins?: string[];
    resolveUser?: WsTicketModuleOptions['resolveUser'];
    refreshWindow?: number;
    maxConnectionsPerUser?: number;
    onConnectionLimit?: 'refuse' | 'close-oldest';
  } = {},
) {
  const started = await startApp(
    {
      imports: [
        WsTicketModule.forRoot({
          jwt: { secret: TEST_SECRET },
          allowedOrigins: options.allowedOrigins,
          resolveUser: options.resolveUser,
          refreshWindow: options.refreshWindow,
          maxConnectionsPerUser: options.maxConnectionsPerUser,
          onConnectionLimit: options.onConnectionLimit,
        }),
      ],
      providers: [ChatTestGateway],
    },
    {
      adapter: recordingAdapter(seen, options.refusals),
      port: options.port,
      prefix: options.prefix,
    },
  );
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= started.close();
    return closing;
  };
  openedApps.push(close);
  return { ...started, close };
}

/** Resolves once `condition()` holds (checked every 10 ms); rejects after 5 s, saying `what()`. */
async function until(condition: () => boolean, what: () => string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`still waiting: ${what()}`);
    await sleep(10);
  }
}

/** A socket.io-client socket wired with attachTicketAuth, not connected yet; closed after the test. */
function client(
  started: StartedApp,
  getToken: () => string,
  extra: { fetch?: typeof fetch; headers?: Record<string, string>; ticketUrl?: string } = {},
) {
  const events: TicketClientEvent[] = [];
  const socket: Socket = io(`${started.url}/chat`, {
    transports: ['websocket'],
    autoConnect: false,
    reconnectionDelay: 100,
    reconnectionDelayMax: 200,
    extraHeaders: extra.headers,
  });
  const handle = attachTicketAuth(socket, {
    ticketUrl: extra.ticketUrl ?? `${started.url}/auth/ws-ticket`,
    getToken,
    fetch: extra.fetch,
    retryDelay: { min: 50, max: 100 },
    onRefused: (event) => events.push(event),
  });
  openedClients.push(() => {
    handle.detach();
    socket.close();
  });
  return { socket, events };
}

describe('Client helper (nestjs-ws-ticket/client)', () => {
  it('reconnects after a server restart with a new ticket and never sends a used one twice', async () => {
    const seen: unknown[] = [];
    const first = await start(seen);
    const port = Number(new URL(first.url).port);
    const { socket } = client(first, () => signJwt({ sub: '1' }));
    socket.connect();
    await next(socket, 'connect');
    await first.close();
    await next(socket, 'disconnect');
    await start(seen, { port }); // closed after the test, like every app here
    await next(socket, 'connect');
    assert.equal(((await ask(socket, 'whoami')) as { sub: string }).sub, '1');
    assert.ok(seen.length >= 2);
    assert.equal(new Set(seen).size, seen.length, 'a ticket was sent twice');
  });

  it('retries with a fresh ticket after ticket_invalid', async () => {
    const seen: unknown[] = [];
    const started = await start(seen);
    let calls = 0;
    // The first ticket the client gets is unknown to the server.
    const flaky: typeof fetch = async (input, init) =>
      ++calls === 1
        ? new Response(JSON.stringify({ uuid: crypto.randomUUID(), expiresIn: 30 }), {
            status: 201,
          })
        : fetch(input, init);
    const { socket, events } = client(started, () => signJwt({ sub: '1' }), {
      fetch: flaky,
    });
    socket.connect();
    await next(socket, 'connect');
    assert.deepEqual(events, [{ code: 'ticket_invalid', fatal: false }]);
    assert.equal(new Set(seen).size, 2);
  });

  it('keeps retrying while resolveUser throws, at the endpoint and at the handshake, and connects once it stops', async () => {
    const seen: unknown[] = [];
    // Calls alternate between the endpoint and the handshake once a ticket is issued: the first
    // request fails, the second attempt gets a ticket whose handshake fails, the third connects.
    const answers = ['throw', 'answer', 'throw'];
    const refusals: string[] = [];
    const started = await start(seen, {
      refusals,
      resolveUser: async (claims) => {
        if (answers.shift() === 'throw') throw new Error('users database is down');
        return claims;
      },
    });
    const { socket, events } = client(started, () => signJwt({ sub: '1' }));
    socket.connect();
    // Bounded: a helper that gave up would leave `connect` pending forever.
    await withDeadline(
      next(socket, 'connect'),
      10_000,
      () => `connect (events ${JSON.stringify(events)})`,
    );
    assert.deepEqual(
      events.map(({ code, fatal, status }) => ({ code, fatal, status })),
      [
        { code: 'ticket_request_failed', fatal: false, status: 503 },
        { code: 'store_unavailable', fatal: false, status: undefined },
      ],
    );
    // The failed ticket request sent no handshake: the only refusal is the handshake's own.
    assert.deepEqual(refusals, ['store_unavailable']);
    assert.equal(((await ask(socket, 'whoami')) as { sub: string }).sub, '1');
  });

  it('gives up, reporting a fatal refusal, on origin_forbidden', async () => {
    const seen: unknown[] = [];
    const started = await start(seen, { allowedOrigins: ['https://app.example'] });
    const { socket, events } = client(started, () => signJwt({ sub: '1' }), {
      headers: { origin: 'https://evil.example' },
    });
    socket.connect();
    await next(socket, 'connect_error');
    await sleep(400);
    assert.deepEqual(events, [{ code: 'origin_forbidden', fatal: true }]);
    assert.equal(seen.length, 1, 'the helper retried a fatal refusal');
    assert.equal(socket.connected, false);
  });

  it('gives up when the ticket endpoint answers 401', async () => {
    const seen: unknown[] = [];
    const started = await start(seen);
    const { socket, events } = client(started, () => 'not-a-jwt');
    socket.connect();
    await until(
      () => events.length > 0,
      () => 'no report',
    );
    await sleep(400);
    assert.deepEqual(events, [{ code: 'ticket_request_unauthorized', fatal: true, status: 401 }]);
    assert.deepEqual(seen, [], 'a handshake was sent without a ticket');
    assert.equal(socket.active, false);
  });

  it('reconnects after session_expired once the app hands it a fresh token', async () => {
    const seen: unknown[] = [];
    // No ws-ticket:expiring: the helper would refresh the session instead of letting it end
    // (test/client/refresh-socket-io.test.ts).
    const started = await start(seen, { refreshWindow: 0 });
    const tokens = [
      signJwt({ sub: '1' }, { expiresIn: 2 }),
      signJwt({ sub: '1' }, { expiresIn: 600 }),
    ];
    let index = 0;
    const { socket, events } = client(started, () => tokens[Math.min(index++, 1)]);
    socket.connect();
    await next(socket, 'connect');
    await next(socket, 'disconnect');
    await next(socket, 'connect');
    assert.deepEqual(events, [{ code: 'session_expired', fatal: false }]);
    assert.equal(socket.connected, true);
  });

  it('stops on user_revoked', async () => {
    const seen: unknown[] = [];
    const started = await start(seen);
    const { socket, events } = client(started, () => signJwt({ sub: '1' }));
    socket.connect();
    await next(socket, 'connect');
    await started.app.get(WsTicketService).disconnectUser('1');
    await next(socket, 'disconnect');
    await sleep(400);
    assert.deepEqual(events, [{ code: 'user_revoked', fatal: true }]);
    assert.equal(seen.length, 1);
    assert.equal(socket.connected, false);
  });
  it('stops on connection_limit when evicted by close-oldest, so two tabs never take turns closing each other', async () => {
    const seen: unknown[] = [];
    const started = await start(seen, {
      maxConnectionsPerUser: 1,
      onConnectionLimit: 'close-oldest',
    });
    const older = client(started, () => signJwt({ sub: '1' }));
    older.socket.connect();
    await next(older.socket, 'connect');
    const newer = client(started, () => signJwt({ sub: '1' }));
    newer.socket.connect();
    await Promise.all([next(newer.socket, 'connect'), next(older.socket, 'disconnect')]);
    await sleep(400);
    assert.deepEqual(older.events, [{ code: 'connection_limit', fatal: true }]);
    assert.equal(older.socket.connected, false);
    assert.equal(newer.socket.connected, true);
    assert.equal(seen.length, 2, 'the evicted helper sent no new handshake');
  });

  it('stops on a connection_limit refusal instead of spending tickets on retries', async () => {
    const seen: unknown[] = [];
    const started = await start(seen, { maxConnectionsPerUser: 1 });
    const first = client(started, () => signJwt({ sub: '1' }));
    first.socket.connect();
    await next(first.socket, 'connect');
    const second = client(started, () => signJwt({ sub: '1' }));
    second.socket.connect();
    await until(
      () => second.events.length > 0,
      () => 'a refusal report',
    );
    await sleep(400);
    assert.deepEqual(second.events, [{ code: 'connection_limit', fatal: true }]);
    assert.equal(seen.length, 2, 'one refused handshake, no retry');
    assert.equal(first.socket.connected, true);
  });

  it('stops after one ticket request when ticketUrl misses the global prefix (404): no ticketless handshake', async () => {
    const seen: unknown[] = [];
    const refusals: string[] = [];
    const started = await start(seen, { prefix: 'api', refusals });
    let requests = 0;
    const counting: typeof fetch = (input, init) => {
      requests++;
      return fetch(input, init);
    };
    // The app serves POST /api/auth/ws-ticket; the client forgot the prefix.
    const { socket, events } = client(started, () => signJwt({ sub: '1' }), {
      fetch: counting,
      ticketUrl: `${started.url}/auth/ws-ticket`,
    });
    socket.connect();
    await until(
      () => events.length > 0,
      () => 'no report',
    );
    await sleep(600);
    assert.deepEqual(events, [{ code: 'ticket_request_rejected', fatal: true, status: 404 }]);
    assert.equal(requests, 1, 'the helper asked again');
    assert.deepEqual(seen, [], 'a handshake reached the server');
    assert.equal(refusals.filter((code) => code === 'ticket_missing').length, 0);
    assert.equal(socket.active, false);
  });

  it('stops on a relative ticketUrl in Node (ticket_url_invalid): no request, no handshake', async () => {
    const seen: unknown[] = [];
    const refusals: string[] = [];
    const started = await start(seen, { refusals });
    let asked = 0;
    const { socket, events } = client(
      started,
      () => {
        asked++;
        return signJwt({ sub: '1' });
      },
      { ticketUrl: '/auth/ws-ticket' },
    );
    socket.connect();
    await until(
      () => events.length > 0,
      () => 'no report',
    );
    await sleep(600);
    assert.deepEqual(
      events.map(({ code, fatal }) => ({ code, fatal })),
      [{ code: 'ticket_url_invalid', fatal: true }],
    );
    assert.match(String((events[0].cause as Error).message), /relative/);
    assert.equal(asked, 0);
    assert.deepEqual([seen, refusals], [[], []]);
  });

  it('backs off on 429 from the real endpoint without a ticketless handshake, then connects', async () => {
    const seen: unknown[] = [];
    const refusals: string[] = [];
    const started = await start(seen, { refusals });
    let requests = 0;
    // The first answer is the endpoint's own 429 (issueLimit), replayed: Retry-After 1.
    const limited: typeof fetch = async (input, init) =>
      ++requests === 1
        ? new Response(JSON.stringify({ statusCode: 429, code: 'rate_limited' }), {
            status: 429,
            headers: { 'retry-after': '1' },
          })
        : fetch(input, init);
    const { socket, events } = client(started, () => signJwt({ sub: '1' }), {
      fetch: limited,
    });
    socket.connect();
    await withDeadline(
      next(socket, 'connect'),
      5000,
      () => `connect (events ${JSON.stringify(events)})`,
    );
    assert.deepEqual(events, [{ code: 'ticket_request_failed', fatal: false, status: 429 }]);
    assert.equal(requests, 2);
    assert.equal(seen.length, 1);
    assert.deepEqual(refusals, []);
  });
});
