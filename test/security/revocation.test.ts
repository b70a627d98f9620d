import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DynamicModule, INestApplication } from '@nestjs/common';
import type { Socket } from 'socket.io-client';
import { type WsTicketClaims, WsTicketModule, WsTicketService } from '../../lib/index.js';
import { ChatTestGateway, NotificationsTestGateway } from '../fixtures/gateways.js';
import { TestUsers } from '../fixtures/users.js';
import { type StartedApp, startApp, ticketFor } from '../support/app.js';
import { RawEngineIo } from '../support/engine-io.js';
import { internalsOf } from '../support/internals.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { connect } from '../support/sockets.js';
import { ConnectionLog, EchoWsGateway } from '../ws/fixtures/gateways.js';
import { closure, openWs, startWsApp } from '../ws/fixtures/ws-app.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const RACES = 100;
/** How long `resolveUser` takes (it checks the user, then "loads a profile"). */
const RESOLVE_DELAY = 30;

/** Resolves true when the socket is disconnected within `bound` ms, false when it survives. */
function disconnectedWithin(socket: Socket, bound: number): Promise<boolean> {
  if (!socket.connected) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), bound);
    socket.once('disconnect', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

describe('Revocation leaves no way back in (Socket.IO, memory store)', () => {
  const users = new TestUsers();
  const alice = signJwt({ sub: '1' });
  let started: StartedApp;
  let service: WsTicketService;

  before(async () => {
    started = await startApp({
      imports: [
        WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, resolveUser: users.resolve }),
      ],
      providers: [ChatTestGateway, NotificationsTestGateway],
    });
    service = started.app.get(WsTicketService);
  });
  after(() => started.close());

  /** A transport that used its ticket on /chat, then left every namespace but stays open. */
  async function idleTransport(): Promise<{ raw: RawEngineIo; uuid: string }> {
    const uuid = await ticketFor(started.url, alice);
    return { raw: await RawEngineIo.idle(started.url, '/chat', uuid), uuid };
  }

  it('re-enters with a used ticket while it is fresh and nothing was revoked (the sharing window)', async () => {
    const { raw, uuid } = await idleTransport();
    assert.ok((await raw.connect('/notifications', { uuid })).ok);
    raw.close();
  });

  it('closes a transport that left every namespace when its user is logged out everywhere', async () => {
    const { raw } = await idleTransport();
    await service.revokeUserTickets('1');
    await service.disconnectUser('1');
    await raw.whenClosed();
    assert.ok(raw.closed);
  });

  it('refuses re-entry with the used ticket after revokeUserTickets alone, and drops the shared session', async () => {
    const { raw, uuid } = await idleTransport();
    await service.revokeUserTickets('1');
    const chat = await raw.connect('/chat', { uuid });
    const notifications = await raw.connect('/notifications', { uuid });
    assert.equal(!chat.ok && chat.code, 'user_revoked');
    // The shared session was dropped at that refusal: the spent ticket is all that is left.
    assert.equal(!notifications.ok && notifications.code, 'ticket_invalid');
    raw.close();
  });

  it('closes the idle transport of a deactivated user, and the user cannot come back', async () => {
    const { raw, uuid } = await idleTransport();
    users.setActive('1', false);
    try {
      await service.disconnectUser('1');
      await raw.whenClosed();
      const again = await RawEngineIo.open(started.url);
      const answer = await again.connect('/chat', { uuid });
      assert.equal(!answer.ok && answer.code, 'ticket_invalid');
      again.close();
    } finally {
      users.setActive('1', true);
    }
  });

  it('refuses a ticket issued before disconnectUser, even without revokeUserTickets', async () => {
    const uuid = await ticketFor(started.url, alice);
    await service.disconnectUser('1');
    const outcome = await connect(`${started.url}/chat`, { auth: { uuid } });
    assert.equal(!outcome.ok && outcome.code, 'ticket_invalid');
    const fresh = await connect(`${started.url}/chat`, {
      auth: { uuid: await ticketFor(started.url, alice) },
    });
    assert.ok(fresh.ok, 'a ticket issued after the revocation works');
    fresh.socket.close();
  });

  it('keeps its revocation memory to recent revocations only', async () => {
    const { internals } = internalsOf(started.app);
    for (let i = 0; i < 50; i++) await service.revokeUserTickets(`someone-${i}`);
    assert.ok(internals.revocation.local.size <= 51 + 1);
  });
});

/** One transport in the race: how to start an app on it and open a socket with a ticket. */
interface RaceTransport {
  name: string;
  start(
    module: DynamicModule,
  ): Promise<{ app: INestApplication; url: string; close(): Promise<void> }>;
  /**
   * Opens a socket with the ticket: the refusal it got, or (admitted) whether it is still open a
   * second after the revocation.
   */
  open(
    url: string,
    uuid: string,
  ): Promise<{ refused: string } | { survived: () => Promise<boolean> }>;
  /** The refusals a revocation may cause: in flight, or the ticket already deleted by it. */
  revoked: string[];
}

const transports: RaceTransport[] = [
  {
    name: 'Socket.IO handshakes',
    start: (module) => startApp({ imports: [module], providers: [ChatTestGateway] }),
    open: async (url, uuid) => {
      const outcome = await connect(`${url}/chat`, { auth: { uuid } });
      if (!outcome.ok) return { refused: String(outcome.code) };
      return {
        survived: async () => {
          const survived = !(await disconnectedWithin(outcome.socket, 1000));
          outcome.socket.close();
          return survived;
        },
      };
    },
    revoked: ['user_revoked', 'ticket_invalid'],
  },
  {
    name: 'raw WebSocket upgrades',
    start: (module) => startWsApp({ imports: [module], providers: [EchoWsGateway, ConnectionLog] }),
    open: async (url, uuid) => {
      const outcome = await openWs(`${url.replace(/^http/, 'ws')}/ws?uuid=${uuid}`);
      if (!outcome.ok) return { refused: `${outcome.status} ${outcome.code}` };
      return {
        survived: async () => {
          const closed = await Promise.race([
            closure(outcome.ws),
            sleep(1000).then(() => undefined),
          ]);
          outcome.ws.terminate();
          if (closed) assert.equal(closed.code, 4003);
          return !closed;
        },
      };
    },
    revoked: ['403 user_revoked', '401 ticket_invalid'],
  },
];

describe('A slow resolveUser racing logout-all leaves no survivor', () => {
  const slowResolve = async (claims: WsTicketClaims) => {
    const user = { id: String(claims.sub), name: 'alice' };
    await sleep(RESOLVE_DELAY);
    return user;
  };

  for (const transport of transports) {
    it(`${transport.name}: ${RACES} of them, each with a disconnectUser landing somewhere in it`, async () => {
      const started = await transport.start(
        WsTicketModule.forRoot({
          jwt: { secret: TEST_SECRET },
          resolveUser: slowResolve,
          issueLimit: false,
        }),
      );
      const service = started.app.get(WsTicketService);
      const alice = signJwt({ sub: '1' });
      let survivors = 0;
      const outcomes = new Map<string, number>();
      try {
        for (let i = 0; i < RACES; i++) {
          const uuid = await ticketFor(started.url, alice);
          const attempt = transport.open(started.url, uuid);
          await sleep(i % (RESOLVE_DELAY + 10));
          await service.disconnectUser('1');
          const outcome = await attempt;
          const key = 'refused' in outcome ? outcome.refused : 'admitted, then closed';
          outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
          if ('survived' in outcome && (await outcome.survived())) survivors++;
        }
      } finally {
        await started.close();
      }
      assert.equal(survivors, 0);
      const unexpected = [...outcomes.keys()].filter(
        (key) => !transport.revoked.includes(key) && key !== 'admitted, then closed',
      );
      assert.deepEqual(unexpected, []);
      const [inFlight] = transport.revoked;
      assert.ok((outcomes.get(inFlight) ?? 0) > 0, 'some revocations landed in flight');
    });
  }
});
