import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { UseGuards } from '@nestjs/common';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { Server, Socket } from 'socket.io';
import { WsTicketGuard, WsTicketModule, WsTicketService, WsUser } from '../../lib/index.js';
import { PLATFORMS, type StartedApp, startOn, ticketFor } from '../support/app.js';
import { type RawConnectAnswer, RawEngineIo } from '../support/engine-io.js';
import { CapturingIoAdapter } from '../support/internals.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { ask, connected, next } from '../support/sockets.js';

/** Bounds every wait of a test (fetch and socket helpers have no bound of their own). */
const BOUNDED = { timeout: 30_000 };

/** Unauthenticated CONNECTs sent to distinct dynamic namespaces. */
const FLOOD = 500;
/** The server closes a transport after 10 refusals: a new one after every 9 keeps each one open. */
const REFUSALS_PER_TRANSPORT = 9;

/** Dynamic `/room-<n>` namespaces, children dropped by Socket.IO once empty. */
@WebSocketGateway({ namespace: /^\/room-\d+$/, cleanupEmptyChildNamespaces: true })
@UseGuards(WsTicketGuard)
class RoomsGateway {
  @SubscribeMessage('whoami')
  whoami(@WsUser() user: unknown): unknown {
    return user;
  }
}

/** What an app middleware on the dynamic parent namespace saw of each socket it ran for. */
const seenByAppMiddleware: unknown[] = [];

/** Dynamic `/desk-<n>` namespaces whose parent has a middleware of the app's own. */
@WebSocketGateway({ namespace: /^\/desk-\d+$/ })
class DesksGateway {
  afterInit(parent: { use(fn: (socket: Socket, next: () => void) => void): void }): void {
    parent.use((socket, next) => {
      seenByAppMiddleware.push(socket.data?.user);
      next();
    });
  }
}

describe('Dynamic namespaces with an app middleware on their parent', () => {
  let started: StartedApp;
  before(async () => {
    started = await startOn('express')({
      imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET } })],
      providers: [DesksGateway],
    });
  });
  after(() => started.close());

  it(
    'authenticates a child namespace before the middleware the child copied from its parent',
    BOUNDED,
    async () => {
      const uuid = await ticketFor(started.url, signJwt({ sub: 'dana' }));
      const socket = await connected(`${started.url}/desk-1`, { auth: { uuid } });
      socket.close();
      const raw = await RawEngineIo.open(started.url);
      const refused = await raw.connect('/desk-2', { uuid: randomUUID() });
      raw.close();
      assert.equal(!refused.ok && refused.code, 'ticket_invalid');
      // Ran once, for the admitted socket, which was already authenticated; never for the refused one.
      assert.equal(seenByAppMiddleware.length, 1);
      assert.equal((seenByAppMiddleware[0] as { sub?: string })?.sub, 'dana');
    },
  );
});

for (const platform of PLATFORMS) {
  const start = startOn(platform);

  describe(`Dynamic namespaces under a flood of refused CONNECTs [${platform}]`, () => {
    let started: StartedApp;
    let adapter: CapturingIoAdapter;
    const io = () => adapter.server as Server;

    before(async () => {
      started = await start(
        {
          imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, issueLimit: false })],
          providers: [RoomsGateway],
        },
        {
          adapter: (app) => {
            adapter = new CapturingIoAdapter(app);
            return adapter;
          },
        },
      );
    });
    after(() => started.close());

    it(
      'passes cleanupEmptyChildNamespaces from the gateway to the Socket.IO server',
      BOUNDED,
      () => {
        assert.equal(io()._opts.cleanupEmptyChildNamespaces, true);
      },
    );

    it(
      `refuses ${FLOOD} unauthenticated CONNECTs to distinct namespaces and keeps none of them`,
      BOUNDED,
      async () => {
        const sizeBefore = io()._nsps.size;
        const answers: RawConnectAnswer[] = [];
        let raw: RawEngineIo | undefined;
        try {
          for (let n = 0; n < FLOOD; n++) {
            if (n % REFUSALS_PER_TRANSPORT === 0) {
              raw?.close();
              raw = await RawEngineIo.open(started.url);
            }
            // Half without a ticket, half with an unknown one.
            const auth = n % 2 === 0 ? undefined : { uuid: randomUUID() };
            answers.push(await (raw as RawEngineIo).connect(`/room-${n}`, auth));
          }
        } finally {
          raw?.close();
        }
        const codes = new Set(answers.map((answer) => (answer.ok ? 'accepted' : answer.code)));
        assert.deepEqual([...codes].sort(), ['ticket_invalid', 'ticket_missing']);
        assert.equal(io()._nsps.size, sizeBefore);
      },
    );

    it(
      'still admits an authenticated socket to a dynamic namespace after the flood',
      BOUNDED,
      async () => {
        const uuid = await ticketFor(started.url, signJwt({ sub: 'erin' }));
        const socket = await connected(`${started.url}/room-${FLOOD + 1}`, { auth: { uuid } });
        try {
          // Without resolveUser, the user is the verified claims.
          assert.equal((await ask<{ sub: string }>(socket, 'whoami')).sub, 'erin');
        } finally {
          socket.close();
        }
      },
    );

    it('reaches a socket in a live dynamic namespace with disconnectUser', BOUNDED, async () => {
      const uuid = await ticketFor(started.url, signJwt({ sub: 'frank' }));
      const socket = await connected(`${started.url}/room-7`, { auth: { uuid } });
      assert.ok(io()._nsps.has('/room-7'));
      const unauthorized = next(socket, 'unauthorized');
      const disconnected = next<string>(socket, 'disconnect');
      await started.app.get(WsTicketService).disconnectUser('frank');
      assert.deepEqual(await unauthorized, { code: 'user_revoked' });
      assert.equal(await disconnected, 'io server disconnect');
    });
  });
}
