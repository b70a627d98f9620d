import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { after, before, describe, it } from 'node:test';
import { SpanStatusCode } from '@opentelemetry/api';
import { MemoryTicketStore, WS_TICKET_CHANNELS } from '../../lib/index.js';
import {
  pointsOf,
  recordedValues,
  registerOpenTelemetry,
  spanAttributes,
  type TestTelemetry,
  ticketRecorder,
} from '../support/open-telemetry.js';
import { withDeadline } from '../support/stop-child.js';
import { ConnectionLog, EchoWsGateway, ticketModule } from './fixtures/gateways.js';
import { closeWs, openedWs, openWs, type StartedWsApp, startWsApp } from './fixtures/ws-app.js';

const USER = 'otel-ws-user-5d0e';

/** The memory store, whose `take()` fails while `down` (a Redis that went away after issuing). */
class SwitchedStore extends MemoryTicketStore {
  down = false;

  override async take(key: string): Promise<string | undefined> {
    if (this.down) throw new Error('ECONNREFUSED 127.0.0.1:6379');
    return super.take(key);
  }
}

/** Resolves with the next `session-end` event, published after OpenTelemetry recorded it. */
function nextSessionEnd(): Promise<unknown> {
  return withDeadline(
    new Promise((resolve) => {
      const onEnd = (event: unknown) => {
        unsubscribe(WS_TICKET_CHANNELS.sessionEnd, onEnd);
        resolve(event);
      };
      subscribe(WS_TICKET_CHANNELS.sessionEnd, onEnd);
    }),
    15_000,
    'the server closing the socket',
  );
}

describe('OpenTelemetry: metrics and spans of a raw WebSocket app', () => {
  let otel: TestTelemetry;
  let server: StartedWsApp;
  const store = new SwitchedStore();
  const recorded = ticketRecorder(() => server.url);
  const { tickets, tokens } = recorded;
  const ticket = () => recorded.ticket(USER);

  before(async () => {
    otel = registerOpenTelemetry();
    server = await startWsApp({
      imports: [ticketModule({ store, issueLimit: false })],
      providers: [EchoWsGateway, ConnectionLog],
    });
  });
  after(async () => {
    await server.close();
    await otel.stop();
  });

  it('records the accepted and refused upgrades, with the gateway path as namespace', async () => {
    const ws = await openedWs(`${server.wsUrl}/ws?uuid=${await ticket()}&x=1`);
    const malformed = await openWs(`${server.wsUrl}/ws?uuid=not-a-uuid`);
    const uuid = await ticket();
    store.down = true;
    const unavailable = await openWs(`${server.wsUrl}/ws?uuid=${uuid}`);
    store.down = false;
    assert.deepEqual(
      [malformed, unavailable].map((outcome) => !outcome.ok && outcome.code),
      ['ticket_malformed', 'store_unavailable'],
    );
    // While it is open, the observed gauge counts it.
    const open = pointsOf((await otel.collect()).get('ws_ticket_open_sockets'));
    assert.deepEqual(
      open.find((point) => point.attributes.transport === 'ws'),
      { attributes: { transport: 'ws' }, value: 1 },
    );
    const ended = nextSessionEnd();
    await closeWs(ws);
    await ended;

    const found = await otel.collect();
    // The client left: no `ws_ticket_sessions_ended` point, which counts what the module closed.
    assert.deepEqual([...found.keys()].sort(), [
      'ws_ticket_handshake_duration_seconds',
      'ws_ticket_handshakes',
      'ws_ticket_issued',
      'ws_ticket_open_sockets',
    ]);
    assert.deepEqual(pointsOf(found.get('ws_ticket_issued')), [{ attributes: {}, value: 2 }]);
    assert.deepEqual(pointsOf(found.get('ws_ticket_handshakes')), [
      { attributes: { code: 'store_unavailable', result: 'refused', transport: 'ws' }, value: 1 },
      { attributes: { code: 'ticket_malformed', result: 'refused', transport: 'ws' }, value: 1 },
      { attributes: { result: 'accepted', transport: 'ws' }, value: 1 },
    ]);
    assert.deepEqual(pointsOf(found.get('ws_ticket_handshake_duration_seconds')), [
      { attributes: { result: 'accepted', transport: 'ws' }, value: 1 },
      { attributes: { result: 'refused', transport: 'ws' }, value: 2 },
    ]);
    assert.deepEqual(pointsOf(found.get('ws_ticket_open_sockets')), [
      { attributes: { transport: 'socket.io' }, value: 0 },
      { attributes: { transport: 'ws' }, value: 0 },
    ]);

    const spans = otel.spans();
    const place = { 'ws_ticket.namespace': '/ws', 'ws_ticket.transport': 'ws' };
    assert.deepEqual(spanAttributes(spans, 'ws_ticket.handshake'), [
      { 'ws_ticket.code': 'store_unavailable', 'ws_ticket.result': 'refused', ...place },
      { 'ws_ticket.code': 'ticket_malformed', 'ws_ticket.result': 'refused', ...place },
      { 'ws_ticket.result': 'accepted', ...place },
    ]);
    assert.deepEqual(spanAttributes(spans, 'ws_ticket.issue'), [
      { 'ws_ticket.result': 'issued' },
      { 'ws_ticket.result': 'issued' },
    ]);
  });

  it('marks only the store_unavailable handshake span as an error', () => {
    const statuses = otel
      .spans()
      .map((span) => [span.attributes['ws_ticket.code'] ?? span.name, span.status])
      .sort(([a], [b]) => String(a).localeCompare(String(b)));
    assert.deepEqual(statuses, [
      ['store_unavailable', { code: SpanStatusCode.ERROR, message: 'store_unavailable' }],
      ['ticket_malformed', { code: SpanStatusCode.UNSET }],
      ['ws_ticket.handshake', { code: SpanStatusCode.UNSET }],
      ['ws_ticket.issue', { code: SpanStatusCode.UNSET }],
      ['ws_ticket.issue', { code: SpanStatusCode.UNSET }],
    ]);
  });

  it('never records the user id, a ticket or a token', async () => {
    const values = recordedValues(await otel.collect(), otel.spans());
    assert.ok(values.length > 0);
    for (const value of values) {
      for (const secret of [USER, ...tickets, ...tokens]) {
        assert.ok(!value.includes(secret), `a recorded value holds ${secret.slice(0, 12)}…`);
      }
    }
  });
});
