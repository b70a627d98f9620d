// Attacks on the telemetry of issue #16 over Socket.IO: every `accept` must get exactly one
// `session-end` (or `ws_ticket_open_sockets` drifts), a `session-end` must carry the code the
// client was told, and what a client chooses must not reach an event or span unbounded.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { type OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import { trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { Namespace, Server } from 'socket.io';
import { io, Manager } from 'socket.io-client';
import {
  type WsTicketClaims,
  WsTicketModule,
  type WsTicketModuleOptions,
  WsTicketService,
} from '../../lib/index.js';
import { ChatTestGateway, NotificationsTestGateway } from '../fixtures/gateways.js';
import { type StartedApp, startApp } from '../support/app.js';
import { RawEngineIo } from '../support/engine-io.js';
import { CapturingIoAdapter } from '../support/internals.js';
import { TEST_SECRET } from '../support/jwt.js';
import { ask, connect, connected, next } from '../support/sockets.js';
import { stillReachable, TelemetryLedger } from './telemetry-ledger.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `/hooked`: an app middleware behind ours and an app `connect` listener, steered by `auth`. */
@WebSocketGateway({ namespace: '/hooked' })
class HookedGateway implements OnGatewayInit {
  constructor(private readonly tickets: WsTicketService) {}

  afterInit(namespace: Namespace): void {
    namespace.use((socket, next) => {
      const auth = socket.handshake.auth as Record<string, unknown>;
      if (auth.appRefuse) return next(new Error('app_refused'));
      if (!auth.revokeMe) return next();
      // A revocation landing between our middleware and the `connection` event.
      this.tickets.revokeUserTickets(String(socket.data.userId)).then(() => next());
    });
    // `connect` is Socket.IO's alias of `connection`, emitted just before it.
    namespace.on('connect', (socket) => {
      if ((socket.handshake.auth as Record<string, unknown>).kick) socket.disconnect();
    });
  }
}

/** Dynamic child namespaces `/room-<name>`, as a multi-tenant app declares them. */
@WebSocketGateway({ namespace: /^\/room-[\w-]+$/ })
class RoomsGateway {}

/** Users whose `resolveUser` takes this long (ms) at the handshake. */
const slowUsers = new Map<string, number>();

const base = (options: Partial<WsTicketModuleOptions> = {}) =>
  WsTicketModule.forRoot({
    jwt: { secret: TEST_SECRET },
    issueLimit: false,
    resolveUser: async (claims: WsTicketClaims) => {
      const wait = slowUsers.get(String(claims.sub));
      if (wait) await sleep(wait);
      return { id: String(claims.sub) };
    },
    ...options,
  });

describe('telemetry attacks on Socket.IO: accept / session-end balance', () => {
  let started: StartedApp;
  let service: WsTicketService;
  let ledger: TelemetryLedger;
  let adapter: CapturingIoAdapter;
  const ticket = async (sub: string, seconds = 600) =>
    (await service.issue({ sub, exp: Math.floor(Date.now() / 1000) + seconds })).uuid;

  before(async () => {
    started = await startApp(
      {
        imports: [base()],
        providers: [ChatTestGateway, NotificationsTestGateway, HookedGateway, RoomsGateway],
      },
      { adapter: (app) => (adapter = new CapturingIoAdapter(app)) },
    );
    service = started.app.get(WsTicketService);
  });
  afterEach(() => ledger?.stop());
  after(() => started.close());

  it('a transport closed at any moment of its namespace handshake leaves no accept without its end', async () => {
    ledger = new TelemetryLedger();
    const waits: Array<number | 'immediate'> = [0, 'immediate', 1, 5, 20, 35, 45, 50, 55, 70];
    slowUsers.set('early', 40);
    for (let round = 0; round < 2; round++) {
      for (const wait of waits) {
        const raw = await RawEngineIo.open(started.url);
        raw.send(`40/chat,${JSON.stringify({ uuid: await ticket('early') })}`);
        if (wait === 'immediate') await new Promise((resolve) => setImmediate(resolve));
        else if (wait > 0) await sleep(wait);
        raw.close();
      }
    }
    await ledger.balanced('transports closed mid-handshake');
    // Each handshake is counted once: accepted, or refused (ticket_invalid: nobody is there).
    assert.equal(ledger.of('accept').length + ledger.of('refuse').length, 2 * waits.length);
  });

  it('two namespaces multiplexed on one connection: two accepts, two session-ends', async () => {
    ledger = new TelemetryLedger();
    const raw = await RawEngineIo.open(started.url);
    const uuid = await ticket('multiplexed');
    assert.equal((await raw.connect('/chat', { uuid })).ok, true);
    assert.equal((await raw.connect('/notifications', { uuid })).ok, true);
    raw.close();
    await ledger.balanced('multiplexed namespaces');
    assert.equal(ledger.of('accept').length, 2);
  });

  it("a refresh with another user's ticket ends every multiplexed socket with user_mismatch", async () => {
    ledger = new TelemetryLedger();
    const manager = new Manager(started.url, { transports: ['websocket'], reconnection: false });
    const uuid = await ticket('mine');
    const sockets = ['/chat', '/notifications'].map((nsp) =>
      manager.socket(nsp, { auth: { uuid } }),
    );
    await Promise.all(sockets.map((socket) => next(socket, 'connect')));
    const ack = await ask(sockets[0], 'ws-ticket:refresh', { uuid: await ticket('theirs') });
    assert.deepEqual(ack, { ok: false, code: 'user_mismatch' });
    await ledger.balanced('user_mismatch');
    assert.deepEqual(
      ledger.of('sessionEnd').map((event) => event.code),
      ['user_mismatch', 'user_mismatch'],
    );
    manager.engine?.close();
  });

  it('an app middleware behind ours that refuses: the socket is neither accepted nor ended', async () => {
    ledger = new TelemetryLedger();
    const refused = await connect(`${started.url}/hooked`, {
      auth: { uuid: await ticket('app-refused'), appRefuse: true },
    });
    assert.equal(refused.ok, false);
    await ledger.balanced('app middleware refusal');
    assert.equal(ledger.of('accept').length, 0);
  });

  it('a socket revoked between our middleware and its connection is refused, never accepted', async () => {
    ledger = new TelemetryLedger();
    const socket = io(`${started.url}/hooked`, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      auth: { uuid: await ticket('revoked-in-tick'), revokeMe: true },
    });
    const told = await next<{ code: string }>(socket, 'unauthorized');
    assert.equal(told.code, 'user_revoked');
    socket.close();
    await ledger.balanced('revoked in the tick');
    assert.deepEqual(
      ledger.of('refuse').map((event) => event.code),
      ['user_revoked'],
    );
  });

  it("a socket an app 'connect' listener disconnects still gets its session-end", async () => {
    ledger = new TelemetryLedger();
    const socket = await connected(`${started.url}/hooked`, {
      auth: { uuid: await ticket('kicked'), kick: true },
    });
    if (socket.connected) await next(socket, 'disconnect');
    socket.close();
    await ledger.balanced("kicked by a 'connect' listener");
  });

  it("one namespace's session end tells every multiplexed socket why, and each end says session_expired", async () => {
    ledger = new TelemetryLedger();
    const raw = await RawEngineIo.open(started.url);
    const uuid = await ticket('short', 2);
    assert.equal((await raw.connect('/chat', { uuid })).ok, true);
    assert.equal((await raw.connect('/notifications', { uuid })).ok, true);
    await raw.whenClosed(6000);
    await ledger.balanced('multiplexed expiry');
    const told = (nsp: string) =>
      raw.packets.some((packet) =>
        packet.startsWith(`42${nsp},["unauthorized",{"code":"session_expired"}`),
      );
    const ends = ledger.of('sessionEnd').map((event) => `${event.namespace} ${event.code}`);
    assert.deepEqual(
      { ends: ends.sort(), told: [told('/chat'), told('/notifications')] },
      { ends: ['/chat session_expired', '/notifications session_expired'], told: [true, true] },
    );
  });

  it("sockets an app 'connect' listener kicked are not kept alive by the module once their transport closed", async () => {
    ledger = new TelemetryLedger();
    const kicked: WeakRef<object>[] = [];
    const server = adapter.server as Server;
    server.of('/hooked').on('connection', (socket) => kicked.push(new WeakRef(socket)));
    const raw = await RawEngineIo.open(started.url);
    const uuid = await ticket('kicked-often');
    for (let i = 0; i < 20; i++) {
      // The connection's consumption of the ticket is shared: it may re-enter at once.
      await raw.connect('/hooked', { uuid, kick: true });
      await raw.until((packet) => packet.startsWith('41/hooked'), raw.packets.length - 1);
    }
    raw.close();
    await raw.whenClosed();
    await sleep(100);
    assert.equal(kicked.length, 20);
    assert.equal(await stillReachable(kicked), 0, 'kicked sockets still reachable');
  });

  it('a collector started while sockets are open never shows a negative ws_ticket_open_sockets', async () => {
    const early = await connected(`${started.url}/chat`, { auth: { uuid: await ticket('early') } });
    ledger = new TelemetryLedger(); // counts from here, as the README says
    const closedEnd = ledger.until(() => ledger.of('sessionEnd').length === 1);
    early.close();
    await closedEnd;
    assert.ok((await ledger.openSockets()) >= 0, 'open sockets below zero');
  });

  it('an unauthenticated client cannot put a namespace name of its own into events and spans', async () => {
    ledger = new TelemetryLedger();
    const spans = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(
      new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
    );
    try {
      const junk = `/room-${'A'.repeat(100_000)}`;
      const raw = await RawEngineIo.open(started.url);
      const answer = await raw.connect(junk, {});
      raw.close();
      assert.deepEqual(answer, { ok: false, code: 'ticket_missing' });
      const [refused] = ledger.of('refuse');
      const attributes = spans.getFinishedSpans().map((span) => span.attributes);
      const lengths = [
        String(refused?.namespace).length,
        ...attributes.map((a) => String(a['ws_ticket.namespace']).length),
      ];
      assert.ok(
        lengths.every((length) => length <= 256),
        `namespace lengths in the refuse event and spans: ${lengths.join(', ')}`,
      );
    } finally {
      trace.disable();
    }
  });
});
