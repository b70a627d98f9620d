import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { INestApplication } from '@nestjs/common';
import type { Socket as ServerSocket } from 'socket.io';
import { io, type Socket } from 'socket.io-client';
import {
  attachTicketAuth,
  type TicketClientEvent,
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The real adapter, recording every ticket that reaches a handshake. */
function recordingAdapter(seen: unknown[]) {
  return (app: INestApplication) =>
    new (class extends WsTicketIoAdapter {
      protected override authenticate(socket: ServerSocket): Promise<WsTicketSession> {
        seen.push(this.app.get(WsTicketService).ticketFrom(socket.handshake));
        return super.authenticate(socket);
      }
    })(app);
}

function start(
  seen: unknown[],
  options: {
    port?: number;
    allowedOrigins?: string[];
    resolveUser?: WsTicketModuleOptions['resolveUser'];
  } = {},
) {
  return startApp(
    {
      imports: [
        WsTicketModule.forRoot({
          jwt: { secret: TEST_SECRET },
          allowedOrigins: options.allowedOrigins,
          resolveUser: options.resolveUser,
        }),
      ],
      providers: [ChatTestGateway],
    },
    { adapter: recordingAdapter(seen), port: options.port },
  );
}

/** Resolves as `promise` does, or rejects (saying `what()`) once `ms` have passed. */
async function within<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting: ${what()}`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A socket.io-client socket wired with attachTicketAuth, not connected yet. */
function client(
  started: StartedApp,
  getToken: () => string,
  extra: { fetch?: typeof fetch; headers?: Record<string, string> } = {},
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
    ticketUrl: `${started.url}/auth/ws-ticket`,
    getToken,
    fetch: extra.fetch,
    retryDelay: { min: 50, max: 100 },
    onRefused: (event) => events.push(event),
  });
  return { socket, events, handle };
}

describe('Client helper (nestjs-ws-ticket/client)', () => {
  it('reconnects after a server restart with a new ticket and never sends a used one twice', async () => {
    const seen: unknown[] = [];
    const first = await start(seen);
    const port = Number(new URL(first.url).port);
    const { socket, handle } = client(first, () => signJwt({ sub: '1' }));
    socket.connect();
    await next(socket, 'connect');
    await first.close();
    await next(socket, 'disconnect');
    const second = await start(seen, { port });
    try {
      await next(socket, 'connect');
      assert.equal(((await ask(socket, 'whoami')) as { sub: string }).sub, '1');
      assert.ok(seen.length >= 2);
      assert.equal(new Set(seen).size, seen.length, 'a ticket was sent twice');
    } finally {
      handle.detach();
      socket.close();
      await second.close();
    }
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
    const { socket, events, handle } = client(started, () => signJwt({ sub: '1' }), {
      fetch: flaky,
    });
    try {
      socket.connect();
      await next(socket, 'connect');
      assert.deepEqual(events, [{ code: 'ticket_invalid', fatal: false }]);
      assert.equal(new Set(seen).size, 2);
    } finally {
      handle.detach();
      socket.close();
      await started.close();
    }
  });

  it('keeps retrying while resolveUser throws, at the endpoint and at the handshake, and connects once it stops', async () => {
    const seen: unknown[] = [];
    // Calls alternate between the endpoint and the handshake once a ticket is issued: the first
    // request fails, the second attempt gets a ticket whose handshake fails, the third connects.
    const answers = ['throw', 'answer', 'throw'];
    const started = await start(seen, {
      resolveUser: async (claims) => {
        if (answers.shift() === 'throw') throw new Error('users database is down');
        return claims;
      },
    });
    const { socket, events, handle } = client(started, () => signJwt({ sub: '1' }));
    try {
      socket.connect();
      // Bounded: a helper that gave up would leave `connect` pending forever.
      await within(next(socket, 'connect'), 10_000, () => JSON.stringify(events));
      assert.deepEqual(
        events.map(({ code, fatal, status }) => ({ code, fatal, status })),
        [
          { code: 'ticket_request_failed', fatal: false, status: 503 },
          { code: 'store_unavailable', fatal: false, status: undefined },
        ],
      );
      assert.equal(((await ask(socket, 'whoami')) as { sub: string }).sub, '1');
    } finally {
      handle.detach();
      socket.close();
      await started.close();
    }
  });

  it('gives up, reporting a fatal refusal, on origin_forbidden', async () => {
    const seen: unknown[] = [];
    const started = await start(seen, { allowedOrigins: ['https://app.example'] });
    const { socket, events, handle } = client(started, () => signJwt({ sub: '1' }), {
      headers: { origin: 'https://evil.example' },
    });
    try {
      socket.connect();
      await next(socket, 'connect_error');
      await sleep(400);
      assert.deepEqual(events, [{ code: 'origin_forbidden', fatal: true }]);
      assert.equal(seen.length, 1, 'the helper retried a fatal refusal');
      assert.equal(socket.connected, false);
    } finally {
      handle.detach();
      socket.close();
      await started.close();
    }
  });

  it('gives up when the ticket endpoint answers 401', async () => {
    const seen: unknown[] = [];
    const started = await start(seen);
    const { socket, events, handle } = client(started, () => 'not-a-jwt');
    try {
      socket.connect();
      await next(socket, 'connect_error');
      await sleep(400);
      assert.deepEqual(events, [{ code: 'ticket_request_unauthorized', fatal: true, status: 401 }]);
      assert.equal(seen.length, 1);
    } finally {
      handle.detach();
      socket.close();
      await started.close();
    }
  });

  it('reconnects after session_expired once the app hands it a fresh token', async () => {
    const seen: unknown[] = [];
    const started = await start(seen);
    const tokens = [
      signJwt({ sub: '1' }, { expiresIn: 2 }),
      signJwt({ sub: '1' }, { expiresIn: 600 }),
    ];
    let index = 0;
    const { socket, events, handle } = client(started, () => tokens[Math.min(index++, 1)]);
    try {
      socket.connect();
      await next(socket, 'connect');
      await next(socket, 'disconnect');
      await next(socket, 'connect');
      assert.deepEqual(events, [{ code: 'session_expired', fatal: false }]);
      assert.equal(socket.connected, true);
    } finally {
      handle.detach();
      socket.close();
      await started.close();
    }
  });

  it('stops on user_revoked', async () => {
    const seen: unknown[] = [];
    const started = await start(seen);
    const { socket, events, handle } = client(started, () => signJwt({ sub: '1' }));
    try {
      socket.connect();
      await next(socket, 'connect');
      await started.app.get(WsTicketService).disconnectUser('1');
      await next(socket, 'disconnect');
      await sleep(400);
      assert.deepEqual(events, [{ code: 'user_revoked', fatal: true }]);
      assert.equal(seen.length, 1);
      assert.equal(socket.connected, false);
    } finally {
      handle.detach();
      socket.close();
      await started.close();
    }
  });
});
