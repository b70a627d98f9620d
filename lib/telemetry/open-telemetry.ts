import type * as OpenTelemetryApi from '@opentelemetry/api';
import type {
  WsTicketAcceptEvent,
  WsTicketIssueEvent,
  WsTicketRefreshEvent,
  WsTicketRefuseEvent,
  WsTicketRevokeEvent,
  WsTicketSessionEndEvent,
} from './ws-ticket-events.js';
import { WS_TICKET_DURATION_BUCKETS, WS_TICKET_METRICS } from './ws-ticket-metrics.js';
import type { WsTicketTelemetryRecorder } from './ws-ticket-telemetry.js';

/** `@opentelemetry/api`, loaded at startup when installed. */
export type OpenTelemetryApiModule = typeof OpenTelemetryApi;

/** The instrumentation scope: the package's name. */
const SCOPE = 'nestjs-ws-ticket';

/** Codes that are failures (retried by clients), not refusals: their spans are errors. */
const FAILURES = new Set<string>(['store_unavailable', 'jwks_unavailable']);

/**
 * Loads `@opentelemetry/api` if it is installed: `undefined` when it is not. Any other failure to
 * load it (a broken install) is thrown.
 */
export async function loadOpenTelemetry(): Promise<OpenTelemetryApiModule | undefined> {
  try {
    return await import('@opentelemetry/api');
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' && String(error).includes("'@opentelemetry/api'")) {
      return undefined;
    }
    throw error;
  }
}

/**
 * Records the module's events with the global OpenTelemetry meter and tracer provider (no-ops
 * until an SDK registers them): the {@link WS_TICKET_METRICS} instruments, and one span per ticket
 * issue (`ws_ticket.issue`), handshake (`ws_ticket.handshake`) and refresh (`ws_ticket.refresh`),
 * recorded when it ends, with its real start time, as a child of the span active then (the HTTP
 * request's, for an issue). Spans and metrics carry codes, results, transports and namespaces:
 * never a user id, a ticket or a token.
 */
export function openTelemetryRecorder(api: OpenTelemetryApiModule): WsTicketTelemetryRecorder {
  const meter = api.metrics.getMeter(SCOPE);
  const tracer = api.trace.getTracer(SCOPE);
  const m = WS_TICKET_METRICS;
  const counter = (metric: { name: string; help: string }, unit: string) =>
    meter.createCounter(metric.name, { description: metric.help, unit });
  const issued = counter(m.issued, '{ticket}');
  const issueRefused = counter(m.issueRefused, '{request}');
  const handshakes = counter(m.handshakes, '{handshake}');
  const sessionsEnded = counter(m.sessionsEnded, '{socket}');
  const refreshes = counter(m.sessionRefreshes, '{refresh}');
  const revocations = counter(m.revocations, '{revocation}');
  const openSockets = meter.createUpDownCounter(m.openSockets.name, {
    description: m.openSockets.help,
    unit: '{socket}',
  });
  const duration = meter.createHistogram(m.handshakeDuration.name, {
    description: m.handshakeDuration.help,
    unit: 's',
    advice: { explicitBucketBoundaries: [...WS_TICKET_DURATION_BUCKETS] },
  });

  const span = (
    name: string,
    startedAt: number,
    attributes: OpenTelemetryApi.Attributes,
    code: string | null,
  ) => {
    const started = tracer.startSpan(name, {
      kind: api.SpanKind.INTERNAL,
      startTime: performance.timeOrigin + startedAt,
      attributes,
    });
    if (code !== null && FAILURES.has(code)) {
      started.setStatus({ code: api.SpanStatusCode.ERROR, message: code });
    }
    started.end();
  };

  return {
    issue(_event: WsTicketIssueEvent, startedAt: number) {
      issued.add(1);
      span('ws_ticket.issue', startedAt, { 'ws_ticket.result': 'issued' }, null);
    },
    refuse(event: WsTicketRefuseEvent, startedAt: number) {
      const { code, transport } = event;
      if (event.stage === 'issue') {
        issueRefused.add(1, { code });
        span(
          'ws_ticket.issue',
          startedAt,
          { 'ws_ticket.result': 'refused', 'ws_ticket.code': code },
          code,
        );
        return;
      }
      handshakes.add(1, { result: 'refused', code, transport });
      duration.record(event.durationMs / 1000, { result: 'refused', transport });
      span(
        'ws_ticket.handshake',
        startedAt,
        {
          'ws_ticket.result': 'refused',
          'ws_ticket.code': code,
          'ws_ticket.transport': transport,
          'ws_ticket.namespace': event.namespace ?? '',
        },
        code,
      );
    },
    accept(event: WsTicketAcceptEvent, startedAt: number) {
      const { transport } = event;
      handshakes.add(1, { result: 'accepted', transport });
      duration.record(event.durationMs / 1000, { result: 'accepted', transport });
      openSockets.add(1, { transport });
      span(
        'ws_ticket.handshake',
        startedAt,
        {
          'ws_ticket.result': 'accepted',
          'ws_ticket.transport': transport,
          'ws_ticket.namespace': event.namespace,
        },
        null,
      );
    },
    sessionEnd(event: WsTicketSessionEndEvent) {
      const { transport, code } = event;
      openSockets.add(-1, { transport });
      if (code !== null) sessionsEnded.add(1, { code, transport });
    },
    revoke(event: WsTicketRevokeEvent) {
      revocations.add(1, { action: event.action });
    },
    refresh(event: WsTicketRefreshEvent, startedAt: number) {
      const { transport, code, result } = event;
      refreshes.add(1, code === null ? { result, transport } : { result, code, transport });
      const attributes: OpenTelemetryApi.Attributes = {
        'ws_ticket.result': result,
        'ws_ticket.transport': transport,
        'ws_ticket.namespace': event.namespace,
      };
      if (code !== null) attributes['ws_ticket.code'] = code;
      span('ws_ticket.refresh', startedAt, attributes, code);
    },
  };
}
