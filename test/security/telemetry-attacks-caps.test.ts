// Telemetry of issue #16 over Socket.IO under the connection cap (refuse, close-oldest),
// connection-state recovery, app shutdown and two collectors: every `accept` gets exactly one
// `session-end`, with the code the client was told, and ws_ticket_open_sockets returns to zero.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { io } from 'socket.io-client';
import { WsTicketModule, type WsTicketModuleOptions, WsTicketService } from '../../lib/index.js';
import { collectWsTicketMetrics } from '../../lib/prometheus/index.js';
import { ChatTestGateway } from '../fixtures/gateways.js';
import { RecoveryTestGateway } from '../fixtures/recovery.gateway.js';
import { type StartedApp, startApp } from '../support/app.js';
import { TEST_SECRET } from '../support/jwt.js';
import { connect, connected, next } from '../support/sockets.js';
import { TelemetryLedger } from './telemetry-ledger.js';

const base = (options: Partial<WsTicketModuleOptions> = {}) =>
  WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, issueLimit: false, ...options });

describe('telemetry attacks on Socket.IO: caps, recovery, shutdown', () => {
  let ledger: TelemetryLedger;
  afterEach(() => ledger?.stop());

  const start = (options: Partial<WsTicketModuleOptions>) =>
    startApp({ imports: [base(options)], providers: [ChatTestGateway] });
  const issue = async (app: StartedApp, sub: string) =>
    (await app.app.get(WsTicketService).issue({ sub, exp: Math.floor(Date.now() / 1000) + 600 }))
      .uuid;

  it("close-oldest: the evicted socket's end says connection_limit, and the books balance", async () => {
    const app = await start({ maxConnectionsPerUser: 1, onConnectionLimit: 'close-oldest' });
    ledger = new TelemetryLedger();
    try {
      const oldest = await connected(`${app.url}/chat`, { auth: { uuid: await issue(app, 'u') } });
      const told = next<{ code: string }>(oldest, 'unauthorized');
      const newest = await connected(`${app.url}/chat`, { auth: { uuid: await issue(app, 'u') } });
      assert.equal((await told).code, 'connection_limit');
      newest.close();
      await ledger.balanced('close-oldest');
      assert.deepEqual(
        ledger.of('sessionEnd').map((event) => event.code),
        ['connection_limit', null],
      );
    } finally {
      await app.close();
    }
  });

  it('maxConnectionsPerUser refusals are refusals only, and the books balance', async () => {
    const app = await start({ maxConnectionsPerUser: 1 });
    ledger = new TelemetryLedger();
    try {
      const first = await connected(`${app.url}/chat`, { auth: { uuid: await issue(app, 'u') } });
      for (let i = 0; i < 5; i++) {
        const again = await connect(`${app.url}/chat`, { auth: { uuid: await issue(app, 'u') } });
        assert.equal(!again.ok && again.code, 'connection_limit');
      }
      first.close();
      await ledger.balanced('refused over the cap');
      assert.equal(ledger.of('accept').length, 1);
    } finally {
      await app.close();
    }
  });

  it('connection-state recovery: the dropped socket ends, the recovered one is accepted and ends', async () => {
    const app = await startApp({ imports: [base()], providers: [RecoveryTestGateway] });
    ledger = new TelemetryLedger();
    try {
      const socket = io(`${app.url}/recover`, {
        transports: ['websocket'],
        forceNew: true,
        reconnectionDelay: 50,
        reconnectionDelayMax: 50,
        auth: (cb) => void issue(app, 'recovering').then((uuid) => cb({ uuid })),
      });
      await next(socket, 'connect');
      const ticked = next(socket, 'tick');
      socket.emit('drop');
      await ticked;
      await next(socket, 'disconnect');
      await next(socket, 'connect');
      assert.equal(socket.recovered, true);
      socket.close();
      await ledger.balanced('recovery');
      assert.equal(ledger.of('accept').length, 2);
    } finally {
      await app.close();
    }
  });

  it('app shutdown with sockets open ends every accepted socket', async () => {
    const app = await start({});
    ledger = new TelemetryLedger();
    const sockets = [];
    for (let i = 0; i < 3; i++) {
      sockets.push(
        await connected(`${app.url}/chat`, { auth: { uuid: await issue(app, `s${i}`) } }),
      );
    }
    await app.close();
    await ledger.balanced('shutdown');
    for (const socket of sockets) socket.close();
  });

  it('two collectors on two registries each count the same sockets once', async () => {
    const app = await start({});
    ledger = new TelemetryLedger();
    const second = new Registry();
    const stop = collectWsTicketMetrics({ registry: second });
    try {
      const socket = await connected(`${app.url}/chat`, {
        auth: { uuid: await issue(app, 'two') },
      });
      const gauge = async () =>
        (await second.getSingleMetric('ws_ticket_open_sockets')?.get())?.values[0]?.value;
      assert.equal(await gauge(), 1);
      socket.close();
      await ledger.balanced('two registries');
      assert.equal(await gauge(), 0);
    } finally {
      stop();
      await app.close();
    }
  });
});
