// `nestjs-ws-ticket/prometheus` (issue #16): the metric deltas a scenario produces on Socket.IO and
// raw WebSocket, in a registry of the test's own; labels hold codes and transports only; stop()
// unsubscribes and unregisters.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import {
  MemoryTicketStore,
  type WsTicketClaims,
  WsTicketModule,
  WsTicketService,
} from '../../lib/index.js';
import { collectWsTicketMetrics } from '../../lib/prometheus/index.js';
import { ChatTestGateway } from '../fixtures/gateways.js';
import { requestTicket, type StartedApp, startApp, ticketFor } from '../support/app.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { connect, connected } from '../support/sockets.js';
import { ConnectionLog, EchoWsGateway, ticketModule } from '../ws/fixtures/gateways.js';
import { closure, openedWs, openWs, type StartedWsApp, startWsApp } from '../ws/fixtures/ws-app.js';

/** Every sample of the registry as `name{label="v",…} value`, labels sorted. */
async function samples(registry: Registry): Promise<Map<string, number>> {
  const values = new Map<string, number>();
  for (const metric of await registry.getMetricsAsJSON()) {
    for (const value of metric.values as {
      metricName?: string;
      labels: Record<string, string | number>;
      value: number;
    }[]) {
      const labels = Object.entries(value.labels)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}="${v}"`)
        .join(',');
      values.set(`${value.metricName ?? metric.name}{${labels}}`, value.value);
    }
  }
  return values;
}

/** What changed between two readings (samples that did not move are left out). */
function delta(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const changed: Record<string, number> = {};
  for (const [key, value] of after) {
    const moved = value - (before.get(key) ?? 0);
    if (moved !== 0 && !key.includes('_bucket') && !key.includes('_sum')) changed[key] = moved;
  }
  return changed;
}

/** Polls until `check` passes (the server's side of a close lands after the client's). */
async function eventually(check: () => Promise<void>): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

const shortSession = (sub: string) => signJwt({ sub, exp: Math.ceil(Date.now() / 1000) + 1 });

describe('nestjs-ws-ticket/prometheus', () => {
  const registry = new Registry();
  let stop: () => void;
  let io: StartedApp;
  let ws: StartedWsApp;

  before(async () => {
    stop = collectWsTicketMetrics({ registry });
    io = await startApp({
      imports: [
        WsTicketModule.forRoot({
          jwt: { secret: TEST_SECRET },
          issueLimit: false,
          resolveUser: (claims: WsTicketClaims) => ({ id: String(claims.sub) }),
        }),
      ],
      providers: [ChatTestGateway],
    });
    ws = await startWsApp({
      imports: [ticketModule({ issueLimit: false })],
      providers: [EchoWsGateway, ConnectionLog],
    });
  });
  after(async () => {
    await io?.close();
    await ws?.close();
    stop?.();
  });

  it('Socket.IO: issue, accept, two refusals, expiry and revocation move exactly these samples', async () => {
    const start = await samples(registry);
    const alice = await ticketFor(io.url, signJwt({ sub: 'alice' }));
    const bob = await ticketFor(io.url, shortSession('bob'));
    assert.equal((await requestTicket(io.url, 'not-a-jwt')).status, 401);
    const socket = await connected(`${io.url}/chat`, { auth: { uuid: alice } });
    await connect(`${io.url}/chat`, { auth: { uuid: 'junk' } });
    await connect(`${io.url}/chat`, { auth: { uuid: alice } });
    const bobSocket = await connected(`${io.url}/chat`, { auth: { uuid: bob } });
    await new Promise((resolve) => bobSocket.once('disconnect', resolve));
    const gone = new Promise((resolve) => socket.once('disconnect', resolve));
    await io.app.get(WsTicketService).disconnectUser('alice');
    await gone;

    await eventually(async () =>
      assert.deepEqual(delta(start, await samples(registry)), {
        'ws_ticket_issued_total{}': 2,
        'ws_ticket_issue_refused_total{code="bearer_invalid"}': 1,
        'ws_ticket_handshakes_total{result="accepted",transport="socket.io"}': 2,
        'ws_ticket_handshakes_total{code="ticket_malformed",result="refused",transport="socket.io"}': 1,
        'ws_ticket_handshakes_total{code="ticket_invalid",result="refused",transport="socket.io"}': 1,
        'ws_ticket_handshake_duration_seconds_count{result="accepted",transport="socket.io"}': 2,
        'ws_ticket_handshake_duration_seconds_count{result="refused",transport="socket.io"}': 2,
        'ws_ticket_sessions_ended_total{code="session_expired",transport="socket.io"}': 1,
        'ws_ticket_sessions_ended_total{code="user_revoked",transport="socket.io"}': 1,
        'ws_ticket_revocations_total{action="disconnect"}': 1,
      }),
    );
    assert.equal((await samples(registry)).get('ws_ticket_open_sockets{transport="socket.io"}'), 0);
  });

  it('raw ws: the same samples under transport="ws"; open sockets go up and back down', async () => {
    const start = await samples(registry);
    const alice = await ticketFor(ws.url, signJwt({ sub: 'alice' }));
    const client = await openedWs(`${ws.wsUrl}/ws?uuid=${alice}`);
    await eventually(async () =>
      assert.equal((await samples(registry)).get('ws_ticket_open_sockets{transport="ws"}'), 1),
    );
    await openWs(`${ws.wsUrl}/ws?uuid=junk`);
    await openWs(`${ws.wsUrl}/ws?uuid=${alice}`);
    const closed = closure(client);
    await ws.app.get(WsTicketService).disconnectUser('alice');
    assert.equal((await closed).code, 4003);
    await eventually(async () =>
      assert.deepEqual(delta(start, await samples(registry)), {
        'ws_ticket_issued_total{}': 1,
        'ws_ticket_handshakes_total{result="accepted",transport="ws"}': 1,
        'ws_ticket_handshakes_total{code="ticket_malformed",result="refused",transport="ws"}': 1,
        'ws_ticket_handshakes_total{code="ticket_invalid",result="refused",transport="ws"}': 1,
        'ws_ticket_handshake_duration_seconds_count{result="accepted",transport="ws"}': 1,
        'ws_ticket_handshake_duration_seconds_count{result="refused",transport="ws"}': 2,
        'ws_ticket_sessions_ended_total{code="user_revoked",transport="ws"}': 1,
        'ws_ticket_revocations_total{action="disconnect"}': 1,
      }),
    );
    assert.equal((await samples(registry)).get('ws_ticket_open_sockets{transport="ws"}'), 0);
  });

  it('the exposition names no user, ticket or token', async () => {
    const token = signJwt({ sub: 'user-frank-42' });
    const uuid = await ticketFor(io.url, token);
    const socket = await connected(`${io.url}/chat`, { auth: { uuid } });
    await connect(`${io.url}/chat`, { auth: { uuid: token } });
    socket.disconnect();
    const text = await registry.metrics();
    for (const secret of ['user-frank-42', uuid, token, 'eyJ', 'alice', 'bob']) {
      assert.ok(!text.includes(secret), `the exposition carries ${secret.slice(0, 14)}…`);
    }
    assert.match(text, /^ws_ticket_issued_total \d+$/m);
  });

  it('a failing store is counted as store_unavailable, at the endpoint and at the handshake', async () => {
    class TakeFails extends MemoryTicketStore {
      failing = false;
      override take(key: string): Promise<string | undefined> {
        return this.failing ? Promise.reject(new Error('down')) : super.take(key);
      }
    }
    const store = new TakeFails();
    const app = await startApp({
      imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, store })],
      providers: [ChatTestGateway],
    });
    try {
      const uuid = await ticketFor(app.url, signJwt({ sub: 'gina' }));
      const start = await samples(registry);
      store.failing = true;
      const refused = await connect(`${app.url}/chat`, { auth: { uuid } });
      assert.equal(!refused.ok && refused.code, 'store_unavailable');
      const after = delta(start, await samples(registry));
      assert.equal(
        after[
          'ws_ticket_handshakes_total{code="store_unavailable",result="refused",transport="socket.io"}'
        ],
        1,
      );
    } finally {
      await app.close();
    }
  });

  it('stop() unsubscribes and unregisters; collecting twice into one registry is refused', async () => {
    const own = new Registry();
    const stopOwn = collectWsTicketMetrics({ registry: own });
    assert.throws(
      () => collectWsTicketMetrics({ registry: own }),
      /holds a metric named ws_ticket_issued_total already/,
    );
    assert.equal((await own.getMetricsAsJSON()).length, 8, 'the failed call registered nothing');
    stopOwn();
    assert.equal((await own.getMetricsAsJSON()).length, 0);
    await ticketFor(io.url, signJwt({ sub: 'hank' }));
    assert.equal((await own.getMetricsAsJSON()).length, 0, 'nothing re-registered');
    const again = collectWsTicketMetrics({ registry: own });
    again();
    again(); // twice: harmless
  });
});
