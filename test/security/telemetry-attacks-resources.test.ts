// Attacks on the telemetry of issue #16 that aim at resources and at failing observers: floods of
// refused handshakes and of connect/leave cycles (sizes of the module's structures, sockets left
// reachable, label sets), an OpenTelemetry meter that throws, diagnostics subscribers that throw.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Meter, type MeterProvider, metrics } from '@opentelemetry/api';
import type { Server } from 'socket.io';
import { type WsTicketClaims, WsTicketModule, WsTicketService } from '../../lib/index.js';
import { ChatTestGateway, NotificationsTestGateway } from '../fixtures/gateways.js';
import { type StartedApp, startApp } from '../support/app.js';
import { RawEngineIo } from '../support/engine-io.js';
import { CapturingIoAdapter, engineConnections, internalsOf } from '../support/internals.js';
import { TEST_SECRET } from '../support/jwt.js';
import { connect, connected } from '../support/sockets.js';
import { CaptureLogger } from '../ws/fixtures/ws-app.js';
import { stillReachable, TelemetryLedger } from './telemetry-ledger.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const module = (openTelemetry?: boolean) =>
  WsTicketModule.forRoot({
    jwt: { secret: TEST_SECRET },
    issueLimit: false,
    resolveUser: (claims: WsTicketClaims) => ({ id: String(claims.sub), name: 'n' }),
    ...(openTelemetry === undefined ? {} : { openTelemetry }),
  });

/** Runs `work` for `count` items, `width` at a time. */
async function pool(count: number, width: number, work: (i: number) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < count) await work(next++);
    }),
  );
}

/** The users the Socket.IO adapter still remembers connections of. */
const rememberedUsers = (adapter: CapturingIoAdapter) =>
  (adapter as unknown as { users: { connections: { size: number } } }).users.connections.size;

describe('telemetry attacks: floods', () => {
  let started: StartedApp | undefined;
  let ledger: TelemetryLedger;
  afterEach(async () => {
    ledger?.stop();
    await started?.close();
    started = undefined;
  });

  it('5,000 refused handshakes leave no state behind and only a handful of label sets', async () => {
    let adapter!: CapturingIoAdapter;
    started = await startApp(
      { imports: [module()], providers: [ChatTestGateway] },
      { adapter: (app) => (adapter = new CapturingIoAdapter(app)) },
    );
    ledger = new TelemetryLedger();
    const url = started.url;
    const perConnection = 9; // under the ten refusals that close a connection
    await pool(Math.ceil(5000 / perConnection), 8, async (i) => {
      const raw = await RawEngineIo.open(url);
      for (let k = 0; k < perConnection && i * perConnection + k < 5000; k++) {
        const uuid = k % 2 === 0 ? 'not-a-ticket' : crypto.randomUUID();
        assert.equal((await raw.connect('/chat', { uuid })).ok, false);
      }
      raw.close();
    });
    await ledger.until(() => ledger.of('refuse').length >= 5000);
    await sleep(200);
    const handshakes = await ledger.registry.getSingleMetric('ws_ticket_handshakes_total')?.get();
    const { internals } = internalsOf(started.app);
    assert.deepEqual(
      {
        refused: ledger.of('refuse').length,
        accepted: ledger.of('accept').length,
        labelSets: handshakes?.values.length,
        refusalKinds: internals.refusals.size <= 4,
        users: rememberedUsers(adapter),
        engine: Object.keys(engineConnections(adapter.server as Server)).length,
      },
      { refused: 5000, accepted: 0, labelSets: 2, refusalKinds: true, users: 0, engine: 0 },
    );
  });

  it('2,000 connect/leave cycles: balanced books, no user remembered, no socket kept reachable', async () => {
    let adapter!: CapturingIoAdapter;
    started = await startApp(
      { imports: [module()], providers: [ChatTestGateway, NotificationsTestGateway] },
      { adapter: (app) => (adapter = new CapturingIoAdapter(app)) },
    );
    const service = started.app.get(WsTicketService);
    const server = adapter.server as Server;
    const sockets: WeakRef<object>[] = [];
    for (const nsp of ['/chat', '/notifications']) {
      server.of(nsp).on('connection', (socket) => sockets.push(new WeakRef(socket)));
    }
    ledger = new TelemetryLedger();
    const url = started.url;
    await pool(20, 20, async (c) => {
      const raw = await RawEngineIo.open(url);
      for (let k = 0; k < 100; k++) {
        // Alternating namespaces: Socket.IO handles a DISCONNECT a tick late.
        const nsp = k % 2 === 0 ? '/chat' : '/notifications';
        const exp = Math.floor(Date.now() / 1000) + 600;
        const { uuid } = await service.issue({ sub: `cycler-${c}`, exp });
        assert.equal((await raw.connect(nsp, { uuid })).ok, true);
        raw.leave(nsp);
      }
      raw.close();
    });
    await ledger.balanced('2,000 cycles', 15_000);
    assert.equal(ledger.of('accept').length, 2000);
    assert.equal(rememberedUsers(adapter), 0);
    assert.equal(sockets.length, 2000);
    assert.equal(await stillReachable(sockets), 0, 'server sockets still reachable');
  });
});

/** A meter whose instruments throw on every record. */
const throwingMeter = (): Meter => {
  const instrument = {
    add: () => {
      throw new Error('exporter down');
    },
    record: () => {
      throw new Error('exporter down');
    },
  };
  return {
    createCounter: () => instrument,
    createUpDownCounter: () => instrument,
    createHistogram: () => instrument,
  } as unknown as Meter;
};

describe('telemetry attacks: failing observers', () => {
  afterEach(() => metrics.disable());

  it('a meter whose instruments throw: every handshake completes, and the failure is logged once', async () => {
    metrics.setGlobalMeterProvider({ getMeter: throwingMeter } as MeterProvider);
    const logger = new CaptureLogger();
    const app = await startApp(
      { imports: [module(true)], providers: [ChatTestGateway] },
      { logger },
    );
    const ledger = new TelemetryLedger();
    try {
      const service = app.app.get(WsTicketService);
      const exp = Math.floor(Date.now() / 1000) + 600;
      for (let i = 0; i < 3; i++) {
        const { uuid } = await service.issue({ sub: `m${i}`, exp });
        const socket = await connected(`${app.url}/chat`, { auth: { uuid } });
        assert.equal((await connect(`${app.url}/chat`, { auth: { uuid } })).ok, false);
        socket.close();
      }
      await ledger.balanced('throwing meter');
      const failures = logger.lines.filter((line) =>
        line.includes('OpenTelemetry recording failed'),
      );
      assert.equal(failures.length, 1);
    } finally {
      ledger.stop();
      await app.close();
    }
  });

  it('a meter provider that throws while its instruments are made does not keep the app from starting', async () => {
    metrics.setGlobalMeterProvider({
      getMeter: () =>
        ({
          createCounter: () => {
            throw new Error('meter broken');
          },
        }) as unknown as Meter,
    } as MeterProvider);
    const app = await startApp({ imports: [module()], providers: [ChatTestGateway] });
    await app.close();
  });

  it('diagnostics subscribers that throw: Node rethrows once per event, the handshake is untouched', async () => {
    const script = fileURLToPath(new URL('./fixtures/throwing-subscriber.js', import.meta.url));
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [script], { timeout: 60_000 }, (error, out) =>
        error ? reject(error) : resolve(out),
      ),
    );
    const report = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
    assert.deepEqual(report, {
      whoami: { id: 'sub-1', name: 'n' },
      spent: 'ticket_invalid',
      uncaught: [
        'subscriber threw on accept',
        'subscriber threw on refuse',
        'subscriber threw on sessionEnd',
      ],
    });
  });
});
