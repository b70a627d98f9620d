import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { io, Manager, type Socket } from 'socket.io-client';
import { WsTicketModule, WsTicketService } from '../../lib/index.js';
import { ChatTestGateway, NotificationsTestGateway } from '../fixtures/gateways.js';
import { RecoveryTestGateway } from '../fixtures/recovery.gateway.js';
import { TestUsers } from '../fixtures/users.js';
import { PLATFORMS, requestTicket, type StartedApp, startOn, ticketFor } from '../support/app.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { ask, connect, connected, next, outcome } from '../support/sockets.js';

for (const platform of PLATFORMS) {
  const start = startOn(platform);

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  /** Resolves the `unauthorized` payload and the disconnect reason, in the order they arrive. */
  function closure(socket: Socket): Promise<{ events: string[]; code?: string; reason?: string }> {
    return new Promise((resolve) => {
      const events: string[] = [];
      let code: string | undefined;
      socket.once('unauthorized', (payload: { code: string }) => {
        events.push('unauthorized');
        code = payload.code;
      });
      socket.once('disconnect', (reason) => {
        events.push('disconnect');
        resolve({ events, code, reason });
      });
    });
  }

  describe(`Session-bound lifetime [${platform}]`, () => {
    let started: StartedApp;
    before(async () => {
      started = await start({
        // The timer test issues 10,000 tickets to one user.
        imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, issueLimit: false })],
        providers: [ChatTestGateway],
      });
    });
    after(() => started.close());

    it('emits unauthorized session_expired and disconnects the socket when the JWT expires', async () => {
      const uuid = await ticketFor(started.url, signJwt({ sub: '1' }, { expiresIn: 2 }));
      const socket = await connected(`${started.url}/chat`, { auth: { uuid } });
      const closed = await closure(socket);
      assert.deepEqual(closed, {
        events: ['unauthorized', 'disconnect'],
        code: 'session_expired',
        reason: 'io server disconnect',
      });
    });

    it('refuses a ticket whose session ended before the socket opened with session_expired', async () => {
      const uuid = await ticketFor(started.url, signJwt({ sub: '1' }, { expiresIn: 2 }));
      await sleep(2100);
      const result = await connect(`${started.url}/chat`, { auth: { uuid } });
      assert.equal(!result.ok && result.code, 'session_expired');
    });

    // Timers belong to the socket layer, not the HTTP platform: one run is enough.
    if (platform === 'express')
      it('leaves no pending timer behind after 10,000 connect/disconnect cycles', async () => {
        const tickets = started.app.get(WsTicketService);
        const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
        const claims = { sub: 'cycler', exp: Math.floor(Date.now() / 1000) + 3600 };
        const cycle = async () => {
          const { uuid } = await tickets.issue(claims);
          const socket = await connected(`${started.url}/chat`, { auth: { uuid } });
          const gone = new Promise((resolve) => socket.once('disconnect', resolve));
          socket.disconnect();
          await gone;
        };
        await cycle();
        await sleep(100);
        const before = timers();
        for (let batch = 0; batch < 200; batch++) {
          await Promise.all(Array.from({ length: 50 }, cycle));
        }
        await sleep(300);
        assert.equal(timers(), before);
      });
  });

  describe(`Session expiry switched off [${platform}]`, () => {
    it('keeps the socket open past the JWT expiry when closeOnSessionEnd is false', async () => {
      const started = await start({
        imports: [
          WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, closeOnSessionEnd: false }),
        ],
        providers: [ChatTestGateway],
      });
      try {
        const uuid = await ticketFor(started.url, signJwt({ sub: '1' }, { expiresIn: 2 }));
        const socket = await connected(`${started.url}/chat`, { auth: { uuid } });
        await sleep(2100);
        assert.equal(socket.connected, true);
        assert.equal(((await ask(socket, 'whoami')) as { sub: string }).sub, '1');
        socket.close();
      } finally {
        await started.close();
      }
    });
  });

  describe(`Revocation [${platform}]`, () => {
    const users = new TestUsers();
    let started: StartedApp;
    let tickets: WsTicketService;
    before(async () => {
      started = await start({
        imports: [
          WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, resolveUser: users.resolve }),
        ],
        providers: [ChatTestGateway, NotificationsTestGateway],
      });
      tickets = started.app.get(WsTicketService);
    });
    after(() => started.close());

    const open = async (sub: string, namespace: string) =>
      connected(`${started.url}${namespace}`, {
        auth: { uuid: await ticketFor(started.url, signJwt({ sub })) },
      });

    it("disconnectUser closes every socket of the user in every namespace, and no one else's", async () => {
      const aliceChat = await open('1', '/chat');
      const aliceNotifications = await open('1', '/notifications');
      const bobChat = await open('2', '/chat');
      const closures = [closure(aliceChat), closure(aliceNotifications)];
      await tickets.disconnectUser('1');
      for (const closed of await Promise.all(closures)) {
        assert.deepEqual(closed, {
          events: ['unauthorized', 'disconnect'],
          code: 'user_revoked',
          reason: 'io server disconnect',
        });
      }
      assert.equal(bobChat.connected, true);
      assert.deepEqual(await ask(bobChat, 'whoami'), { id: '2', name: 'bob' });
      bobChat.close();
    });

    it('disconnectUser tells every namespace multiplexed on one connection why, before it closes', async () => {
      const manager = new Manager(started.url, { transports: ['websocket'], reconnection: false });
      try {
        const uuid = await ticketFor(started.url, signJwt({ sub: '1' }));
        const sockets = ['/chat', '/notifications'].map((namespace) =>
          manager.socket(namespace, { auth: { uuid } }),
        );
        await Promise.all(sockets.map((socket) => next(socket, 'connect')));
        const closures = sockets.map(closure);
        assert.equal(await tickets.disconnectUser('1'), 1, 'one connection');
        for (const closed of await Promise.all(closures)) {
          assert.deepEqual(closed, {
            events: ['unauthorized', 'disconnect'],
            code: 'user_revoked',
            reason: 'io server disconnect',
          });
        }
      } finally {
        manager.engine?.close();
      }
    });

    it('disconnectUser sends the code it is given', async () => {
      const socket = await open('1', '/chat');
      const closed = closure(socket);
      await tickets.disconnectUser('1', 'session_expired');
      assert.equal((await closed).code, 'session_expired');
    });

    it('revokeUserTickets makes tickets already issued to the user unusable', async () => {
      const first = await ticketFor(started.url, signJwt({ sub: '1' }));
      const second = await ticketFor(started.url, signJwt({ sub: '1' }));
      const bobs = await ticketFor(started.url, signJwt({ sub: '2' }));
      assert.equal(await tickets.revokeUserTickets('1'), 2);
      for (const uuid of [first, second]) {
        const result = await connect(`${started.url}/chat`, { auth: { uuid } });
        assert.equal(!result.ok && result.code, 'ticket_invalid');
      }
      (await connected(`${started.url}/chat`, { auth: { uuid: bobs } })).close();
      // New tickets work again.
      (await open('1', '/chat')).close();
    });
  });

  describe(`Origin allow-list [${platform}]`, () => {
    for (const [kind, allowedOrigins] of [
      ['a list', ['https://app.example']],
      [
        'a function',
        (origin: string | undefined) => origin === undefined || origin.endsWith('app.example'),
      ],
    ] as const) {
      it(`allows listed origins and refuses others with origin_forbidden (${kind})`, async () => {
        const started = await start({
          imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, allowedOrigins })],
          providers: [ChatTestGateway],
        });
        try {
          const token = signJwt({ sub: '1' });
          const withOrigin = async (origin?: string) =>
            connect(`${started.url}/chat`, {
              auth: { uuid: await ticketFor(started.url, token) },
              extraHeaders: origin ? { origin } : {},
            });
          const good = await withOrigin('https://app.example');
          assert.equal(good.ok, true);
          if (good.ok) good.socket.close();
          const none = await withOrigin(undefined);
          assert.equal(none.ok, true);
          if (none.ok) none.socket.close();
          const evil = await withOrigin('https://evil.example');
          assert.equal(!evil.ok && evil.code, 'origin_forbidden');
        } finally {
          await started.close();
        }
      });
    }

    it('refuses a forbidden origin before looking at the ticket', async () => {
      const started = await start({
        imports: [
          WsTicketModule.forRoot({
            jwt: { secret: TEST_SECRET },
            allowedOrigins: ['https://app.example'],
          }),
        ],
        providers: [ChatTestGateway],
      });
      try {
        const uuid = await ticketFor(started.url, signJwt({ sub: '1' }));
        const evil = await connect(`${started.url}/chat`, {
          auth: { uuid },
          extraHeaders: { origin: 'https://evil.example' },
        });
        assert.equal(!evil.ok && evil.code, 'origin_forbidden');
        // The ticket was not spent by the refused handshake.
        (await connected(`${started.url}/chat`, { auth: { uuid } })).close();
      } finally {
        await started.close();
      }
    });
  });

  describe(`Ticket bindings [${platform}]`, () => {
    type Headers = Record<string, string>;
    const bindings: Array<{
      name: string;
      bind: { ip?: boolean; userAgent?: boolean; trustedProxies?: number };
      requested: Headers;
      same: Headers;
      other: Headers;
    }> = [
      {
        name: 'refuses a handshake from another user agent with ticket_binding_mismatch',
        bind: { userAgent: true },
        requested: { 'user-agent': 'browser-a' },
        same: { 'user-agent': 'browser-a' },
        other: { 'user-agent': 'browser-b' },
      },
      {
        // As a proxy that appends writes it: whatever the client sent, then the address it saw.
        name: 'binds to the right-most forwarded address behind one trusted proxy',
        bind: { ip: true, trustedProxies: 1 },
        requested: { 'x-forwarded-for': '198.51.100.66, 203.0.113.7' },
        same: { 'x-forwarded-for': '203.0.113.7' },
        other: { 'x-forwarded-for': '203.0.113.7, 198.51.100.9' },
      },
    ];
    for (const { name, bind, requested, same, other } of bindings) {
      it(name, async () => {
        const started = await start({
          imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, bind })],
          providers: [ChatTestGateway],
        });
        try {
          const token = signJwt({ sub: '1' });
          const attempt = async (headers: Headers) =>
            connect(`${started.url}/chat`, {
              auth: { uuid: await ticketFor(started.url, token, undefined, requested) },
              extraHeaders: headers,
            });
          const matching = await attempt(same);
          assert.equal(matching.ok, true);
          if (matching.ok) matching.socket.close();
          const mismatched = await attempt(other);
          assert.equal(!mismatched.ok && mismatched.code, 'ticket_binding_mismatch');
        } finally {
          await started.close();
        }
      });
    }

    it('accepts the same peer address when bound to the IP without a proxy', async () => {
      const started = await start({
        imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, bind: { ip: true } })],
        providers: [ChatTestGateway],
      });
      try {
        const uuid = await ticketFor(started.url, signJwt({ sub: '1' }));
        (await connected(`${started.url}/chat`, { auth: { uuid } })).close();
      } finally {
        await started.close();
      }
    });
  });

  describe(`Issuance limit [${platform}]`, () => {
    it('answers 429 with Retry-After beyond the per-user limit, and only for that user', async () => {
      const started = await start({
        imports: [
          WsTicketModule.forRoot({
            jwt: { secret: TEST_SECRET },
            issueLimit: { limit: 3, window: 30 },
          }),
        ],
      });
      try {
        const alice = signJwt({ sub: '1' });
        for (let i = 0; i < 3; i++)
          assert.equal((await requestTicket(started.url, alice)).status, 201);
        const limited = await requestTicket(started.url, alice);
        assert.equal(limited.status, 429);
        const retryAfter = Number(limited.headers.get('retry-after'));
        assert.ok(retryAfter >= 1 && retryAfter <= 30, `Retry-After ${retryAfter}`);
        assert.equal(limited.headers.get('cache-control'), 'no-store');
        assert.equal(limited.headers.get('x-content-type-options'), 'nosniff');
        assert.equal(((await limited.json()) as { code: string }).code, 'rate_limited');
        assert.equal((await requestTicket(started.url, signJwt({ sub: '2' }))).status, 201);
      } finally {
        await started.close();
      }
    });

    it('applies 60 tickets per user per minute by default', async () => {
      const started = await start({
        imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET } })],
      });
      try {
        const alice = signJwt({ sub: '1' });
        const statuses = await Promise.all(
          Array.from({ length: 61 }, () => requestTicket(started.url, alice).then((r) => r.status)),
        );
        assert.equal(statuses.filter((s) => s === 201).length, 60);
        assert.equal(statuses.filter((s) => s === 429).length, 1);
      } finally {
        await started.close();
      }
    });
  });

  describe(`Connection-state recovery [${platform}]`, () => {
    const users = new TestUsers();
    let started: StartedApp;
    before(async () => {
      started = await start({
        imports: [
          WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, resolveUser: users.resolve }),
        ],
        providers: [RecoveryTestGateway],
      });
    });
    after(() => started.close());

    /** Connects with reconnection on, drops the transport, and reports how the reconnection went. */
    async function dropAndReconnect(auth: Socket['auth']) {
      const socket = io(`${started.url}/recover`, {
        transports: ['websocket'],
        forceNew: true,
        reconnectionDelay: 50,
        reconnectionDelayMax: 50,
        auth,
      });
      const first = await outcome(socket);
      assert.equal(first.ok, true, 'first connection refused');
      const ticked = next(socket, 'tick');
      socket.emit('drop');
      await ticked;
      await next(socket, 'disconnect');
      const again = await outcome(socket);
      const recovered = socket.recovered;
      socket.close();
      return { again, recovered };
    }

    it('recovers a session only through a fresh, valid ticket', async () => {
      const token = signJwt({ sub: '1' });
      const { again, recovered } = await dropAndReconnect((cb) => {
        ticketFor(started.url, token).then((uuid) => cb({ uuid }));
      });
      assert.equal(again.ok, true);
      assert.equal(recovered, true);
    });

    it('refuses a recovery that replays the spent ticket', async () => {
      const uuid = await ticketFor(started.url, signJwt({ sub: '1' }));
      const { again } = await dropAndReconnect({ uuid });
      assert.equal(!again.ok && again.code, 'ticket_invalid');
    });

    it('refuses a recovery once the user was deactivated', async () => {
      const token = signJwt({ sub: '2' });
      let calls = 0;
      try {
        const { again } = await dropAndReconnect((cb) => {
          if (++calls === 2) users.setActive('2', false);
          ticketFor(started.url, token).then(
            (uuid) => cb({ uuid }),
            () => cb({}),
          );
        });
        assert.equal(again.ok, false);
      } finally {
        users.setActive('2', true);
      }
    });
  });
}
