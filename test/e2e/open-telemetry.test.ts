import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { after, before, describe, it } from 'node:test';
import {
  type MiddlewareConsumer,
  Module,
  type NestMiddleware,
  type NestModule,
} from '@nestjs/common';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { DataPointType, type HistogramMetricData } from '@opentelemetry/sdk-metrics';
import type { Socket } from 'socket.io-client';
import {
  WS_TICKET_CHANNELS,
  WS_TICKET_DURATION_BUCKETS,
  type WsTicketClaims,
  WsTicketModule,
  WsTicketService,
} from '../../lib/index.js';
import { ChatTestGateway } from '../fixtures/gateways.js';
import { requestTicket, type StartedApp, startApp, ticketFor } from '../support/app.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import {
  millisOf,
  now,
  pointsOf,
  recordedValues,
  registerOpenTelemetry,
  spanAttributes,
  type TestTelemetry,
  ticketRecorder,
} from '../support/open-telemetry.js';
import { ask, connect, connected } from '../support/sockets.js';
import { withDeadline } from '../support/stop-child.js';

/** User ids that must never show up in what OpenTelemetry records. */
const ALICE = 'otel-user-alice-7f3a';
const BOB = 'otel-user-bob-91c2';

const moduleSpans = (otel: TestTelemetry) =>
  otel.spans().filter((span) => span.instrumentationScope.name === 'nestjs-ws-ticket');

/** Resolves once the server closed a Socket.IO socket. */
const disconnected = (socket: Socket) =>
  withDeadline(
    new Promise<void>((resolve) => socket.once('disconnect', () => resolve())),
    15_000,
    'the server closing the socket',
  );

/** An app's HTTP server span around each ticket request, as HTTP instrumentation makes one. */
class RequestSpan implements NestMiddleware {
  use(
    _request: unknown,
    response: { once(event: 'finish', fn: () => void): void },
    next: () => void,
  ) {
    const span = trace.getTracer('test-http').startSpan('POST /auth/ws-ticket');
    response.once('finish', () => span.end());
    context.with(trace.setSpan(context.active(), span), next);
  }
}

@Module({})
class RequestSpanModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(RequestSpan).forRoutes('auth/ws-ticket');
  }
}

describe('OpenTelemetry: metrics and spans of a Socket.IO app', () => {
  let otel: TestTelemetry;
  let started: StartedApp;
  /** When each resolveUser call began, on the module's clock. */
  const resolvedAt: number[] = [];
  const { tickets, tokens, ticket } = ticketRecorder(() => started.url);

  before(async () => {
    otel = registerOpenTelemetry();
    started = await startApp({
      imports: [
        RequestSpanModule,
        WsTicketModule.forRoot({
          jwt: { secret: TEST_SECRET },
          issueLimit: false,
          resolveUser: (claims: WsTicketClaims) => {
            resolvedAt.push(now());
            return { id: String(claims.sub), name: 'x' };
          },
        }),
      ],
      providers: [ChatTestGateway],
    });
  });
  after(async () => {
    await started.close();
    await otel.stop();
  });

  it('records issues, refusals, the handshake, the session end and the revocation exactly', async () => {
    const startedAt = now();
    const [first] = [await ticket(ALICE), await ticket(ALICE)];
    const refused = await requestTicket(started.url, undefined);
    assert.equal(refused.status, 401);
    assert.equal(((await refused.json()) as { code: string }).code, 'bearer_missing');
    const socket = await connected(`${started.url}/chat`, { auth: { uuid: first } });
    const malformed = await connect(`${started.url}/chat`, { auth: { uuid: 'not-a-uuid' } });
    const spent = await connect(`${started.url}/chat`, { auth: { uuid: first } });
    assert.deepEqual([malformed.ok, spent.ok], [false, false]);
    assert.deepEqual(
      [!malformed.ok && malformed.code, !spent.ok && spent.code],
      ['ticket_malformed', 'ticket_invalid'],
    );
    const closed = disconnected(socket);
    assert.equal(await started.app.get(WsTicketService).disconnectUser(ALICE), 1);
    await closed;

    const found = await otel.collect();
    const io = 'socket.io';
    assert.deepEqual([...found.keys()].sort(), [
      'ws_ticket_handshake_duration_seconds',
      'ws_ticket_handshakes',
      'ws_ticket_issue_refused',
      'ws_ticket_issued',
      'ws_ticket_open_sockets',
      'ws_ticket_revocations',
      'ws_ticket_sessions_ended',
    ]);
    const points = (name: string) => pointsOf(found.get(name));
    assert.deepEqual(points('ws_ticket_issued'), [{ attributes: {}, value: 2 }]);
    assert.deepEqual(points('ws_ticket_issue_refused'), [
      { attributes: { code: 'bearer_missing' }, value: 1 },
    ]);
    assert.deepEqual(points('ws_ticket_handshakes'), [
      { attributes: { code: 'ticket_invalid', result: 'refused', transport: io }, value: 1 },
      { attributes: { code: 'ticket_malformed', result: 'refused', transport: io }, value: 1 },
      { attributes: { result: 'accepted', transport: io }, value: 1 },
    ]);
    assert.deepEqual(points('ws_ticket_handshake_duration_seconds'), [
      { attributes: { result: 'accepted', transport: io }, value: 1 },
      { attributes: { result: 'refused', transport: io }, value: 2 },
    ]);
    assert.deepEqual(points('ws_ticket_sessions_ended'), [
      { attributes: { code: 'user_revoked', transport: io }, value: 1 },
    ]);
    // Observed per transport, both from the first event on.
    assert.deepEqual(points('ws_ticket_open_sockets'), [
      { attributes: { transport: io }, value: 0 },
      { attributes: { transport: 'ws' }, value: 0 },
    ]);
    assert.deepEqual(points('ws_ticket_revocations'), [
      { attributes: { action: 'disconnect' }, value: 1 },
    ]);

    const histogram = found.get('ws_ticket_handshake_duration_seconds') as HistogramMetricData;
    assert.equal(histogram.descriptor.unit, 's');
    assert.equal(histogram.dataPointType, DataPointType.HISTOGRAM);
    for (const point of histogram.dataPoints) {
      assert.deepEqual(point.value.buckets.boundaries, [...WS_TICKET_DURATION_BUCKETS]);
    }

    const spans = moduleSpans(otel);
    assert.deepEqual(spanAttributes(spans, 'ws_ticket.issue'), [
      { 'ws_ticket.code': 'bearer_missing', 'ws_ticket.result': 'refused' },
      { 'ws_ticket.result': 'issued' },
      { 'ws_ticket.result': 'issued' },
    ]);
    const place = { 'ws_ticket.transport': io, 'ws_ticket.namespace': '/chat' };
    assert.deepEqual(spanAttributes(spans, 'ws_ticket.handshake'), [
      { 'ws_ticket.result': 'refused', 'ws_ticket.code': 'ticket_invalid', ...place },
      { 'ws_ticket.result': 'refused', 'ws_ticket.code': 'ticket_malformed', ...place },
      { 'ws_ticket.result': 'accepted', ...place },
    ]);
    assert.equal(spans.length, 6);
    for (const span of spans) {
      assert.equal(span.status.code, SpanStatusCode.UNSET, `${span.name}: a refusal is no error`);
      assert.equal(span.kind, SpanKind.INTERNAL);
      assert.ok(millisOf(span.startTime) >= startedAt, `${span.name} starts in this test`);
      assert.ok(
        millisOf(span.startTime) <= millisOf(span.endTime),
        `${span.name} ends after it starts`,
      );
    }
    // The two issues and the accepted handshake each called resolveUser once: each span starts
    // before its call and after the previous one, so its start is the operation's, not the record's.
    const timed = spans
      .filter((span) =>
        ['issued', 'accepted'].includes(String(span.attributes['ws_ticket.result'])),
      )
      .map((span) => millisOf(span.startTime))
      .sort((a, b) => a - b);
    assert.equal(resolvedAt.length, 3);
    timed.forEach((start, i) => {
      assert.ok(start <= resolvedAt[i], `span ${i} starts before its resolveUser call`);
      if (i > 0) assert.ok(start >= resolvedAt[i - 1], `span ${i} starts after the previous call`);
    });
    // ...and ends after it, on the same clock (an end on Date.now() could come before it).
    const ends = spans
      .filter((span) =>
        ['issued', 'accepted'].includes(String(span.attributes['ws_ticket.result'])),
      )
      .map((span) => millisOf(span.endTime))
      .sort((a, b) => a - b);
    ends.forEach((end, i) => {
      assert.ok(end >= resolvedAt[i], `span ${i} ends after its resolveUser call`);
    });
  });

  it('makes each issue span a child of the ticket request span active when it is recorded', () => {
    const all = otel.spans();
    const requests = all.filter((span) => span.name === 'POST /auth/ws-ticket');
    const issues = all.filter((span) => span.name === 'ws_ticket.issue');
    assert.equal(issues.length, 3);
    for (const issue of issues) {
      const parent = issue.parentSpanContext;
      assert.ok(parent, 'the issue span has a parent');
      const request = requests.find((span) => span.spanContext().spanId === parent.spanId);
      assert.ok(request, 'its parent is a ticket request span');
      assert.equal(issue.spanContext().traceId, request.spanContext().traceId);
    }
  });

  it('records a live refresh: ws_ticket_session_refreshes and a ws_ticket.refresh span', async () => {
    const socket = await connected(`${started.url}/chat`, {
      auth: { uuid: await ticket(BOB, 30) },
    });
    const refreshed = await ask<{ ok: boolean }>(socket, 'ws-ticket:refresh', {
      uuid: await ticket(BOB, 60),
    });
    assert.equal(refreshed.ok, true);
    const spent = tickets.at(-1);
    assert.deepEqual(await ask(socket, 'ws-ticket:refresh', { uuid: spent }), {
      ok: false,
      code: 'ticket_invalid',
    });
    socket.disconnect();

    const found = await otel.collect();
    assert.deepEqual(pointsOf(found.get('ws_ticket_session_refreshes')), [
      {
        attributes: { code: 'ticket_invalid', result: 'refused', transport: 'socket.io' },
        value: 1,
      },
      { attributes: { result: 'refreshed', transport: 'socket.io' }, value: 1 },
    ]);
    const refreshes = moduleSpans(otel).filter((span) => span.name === 'ws_ticket.refresh');
    const place = { 'ws_ticket.transport': 'socket.io', 'ws_ticket.namespace': '/chat' };
    assert.deepEqual(spanAttributes(refreshes, 'ws_ticket.refresh'), [
      { 'ws_ticket.result': 'refused', 'ws_ticket.code': 'ticket_invalid', ...place },
      { 'ws_ticket.result': 'refreshed', ...place },
    ]);
    for (const span of refreshes) assert.equal(span.status.code, SpanStatusCode.UNSET);
  });

  it('never records a user id, a ticket or a token', async () => {
    const values = recordedValues(await otel.collect(), otel.spans());
    assert.ok(values.length > 0);
    for (const value of values) {
      for (const secret of [ALICE, BOB, ...tickets, ...tokens]) {
        assert.ok(!value.includes(secret), `a recorded value holds ${secret.slice(0, 12)}…`);
      }
      assert.ok(!value.includes('eyJ'), 'a recorded value holds a JWT');
    }
  });
});

describe('OpenTelemetry off: openTelemetry: false', () => {
  let otel: TestTelemetry;
  let started: StartedApp;
  before(async () => {
    otel = registerOpenTelemetry();
    started = await startApp({
      imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, openTelemetry: false })],
      providers: [ChatTestGateway],
    });
  });
  after(async () => {
    await started.close();
    await otel.stop();
  });

  it('records no metric and no span for a handshake, and still publishes the events', async () => {
    const accepted: unknown[] = [];
    const onAccept = (event: unknown) => accepted.push(event);
    subscribe(WS_TICKET_CHANNELS.accept, onAccept);
    try {
      const uuid = await ticketFor(started.url, signJwt({ sub: ALICE }));
      const socket = await connected(`${started.url}/chat`, { auth: { uuid } });
      socket.disconnect();
    } finally {
      unsubscribe(WS_TICKET_CHANNELS.accept, onAccept);
    }
    assert.equal(accepted.length, 1, 'the handshake happened and was published');
    assert.deepEqual([...(await otel.collect()).keys()], []);
    assert.deepEqual(moduleSpans(otel), []);
  });
});
