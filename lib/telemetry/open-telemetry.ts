import type * as OpenTelemetryApi from '@opentelemetry/api';
import type {
  WsTicketAcceptEvent,
  WsTicketIssueEvent,
  WsTicketRefreshEvent,
  WsTicketRefuseEvent,
  WsTicketRevokeEvent,
  WsTicketSessionEndEvent,
  WsTicketTransport,
} from './ws-ticket-events.js';
import { WS_TICKET_DURATION_BUCKETS, WS_TICKET_METRICS } from './ws-ticket-metrics.js';
import type { WsTicketTelemetryRecorder } from './ws-ticket-telemetry.js';

/** `@opentelemetry/api`, loaded at startup when installed. */
export type OpenTelemetryApiModule = typeof OpenTelemetryApi;

/** The instrumentation scope: the package's name. */
const SCOPE = 'nestjs-ws-ticket';

/** How many attribute sets are kept for reuse; past it (codes nobody expects) they are made anew. */
const ATTRIBUTE_SETS_MAX = 256;

const TRANSPORTS: readonly WsTicketTransport[] = ['socket.io', 'ws'];

const ISSUED: OpenTelemetryApi.Attributes = Object.freeze({ 'ws_ticket.result': 'issued' });

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
    // MODULE_NOT_FOUND: a bundler or test runner that turned the import() into require().
    if (
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
      String(error).includes("'@opentelemetry/api'")
    ) {
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
  const tracer = api.trace.getTracer(SCOPE);
  // The meter on the first event, not at startup: an SDK registered after the app was created but
  // before its first client still gets the metrics (the metrics API has no proxy that would).
  let made: Instruments | undefined;
  /** Open sockets by transport, read by the SDK when it collects (no instrument call per change). */
  const open: Record<WsTicketTransport, number> = { 'socket.io': 0, ws: 0 };
  const instruments = () => {
    made ??= instrumentsOf(api.metrics.getMeter(SCOPE), open);
    return made;
  };
  // Attribute sets are few (codes × results × transports): made once each, not per event.
  const cache = new Map<string, OpenTelemetryApi.Attributes>();
  const attrs = (key: string, make: () => OpenTelemetryApi.Attributes) => {
    let found = cache.get(key);
    if (!found) {
      found = Object.freeze(make());
      if (cache.size < ATTRIBUTE_SETS_MAX) cache.set(key, found);
    }
    return found;
  };

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
    // The end on the start's clock: Date.now() has whole milliseconds only.
    started.end(performance.timeOrigin + performance.now());
  };

  return {
    issue(_event: WsTicketIssueEvent, startedAt: number) {
      instruments().issued.add(1);
      span('ws_ticket.issue', startedAt, ISSUED, null);
    },
    refuse(event: WsTicketRefuseEvent, startedAt: number) {
      const { code, transport } = event;
      if (event.stage === 'issue') {
        instruments().issueRefused.add(
          1,
          attrs(`i|${code}`, () => ({ code })),
        );
        span(
          'ws_ticket.issue',
          startedAt,
          attrs(`is|${code}`, () => ({ 'ws_ticket.result': 'refused', 'ws_ticket.code': code })),
          code,
        );
        return;
      }
      instruments().handshakes.add(
        1,
        attrs(`r|${code}|${transport}`, () => ({ result: 'refused', code, transport })),
      );
      instruments().duration.record(
        event.durationMs / 1000,
        attrs(`rd|${transport}`, () => ({ result: 'refused', transport })),
      );
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
      const accepted = attrs(`a|${transport}`, () => ({ result: 'accepted', transport }));
      instruments().handshakes.add(1, accepted);
      instruments().duration.record(event.durationMs / 1000, accepted);
      open[transport]++;
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
      open[transport]--;
      if (code !== null) {
        instruments().sessionsEnded.add(
          1,
          attrs(`e|${code}|${transport}`, () => ({ code, transport })),
        );
      }
    },
    revoke(event: WsTicketRevokeEvent) {
      const { action } = event;
      instruments().revocations.add(
        1,
        attrs(`v|${action}`, () => ({ action })),
      );
    },
    refresh(event: WsTicketRefreshEvent, startedAt: number) {
      const { transport, code, result } = event;
      instruments().refreshes.add(
        1,
        attrs(`f|${result}|${code}|${transport}`, () =>
          code === null ? { result, transport } : { result, code, transport },
        ),
      );
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

/** The module's OpenTelemetry instruments, named as {@link WS_TICKET_METRICS} (no `_total`). */
function instrumentsOf(meter: OpenTelemetryApi.Meter, open: Record<WsTicketTransport, number>) {
  const m = WS_TICKET_METRICS;
  const counter = (metric: { name: string; help: string }, unit: string) =>
    meter.createCounter(metric.name, { description: metric.help, unit });
  return {
    issued: counter(m.issued, '{ticket}'),
    issueRefused: counter(m.issueRefused, '{request}'),
    handshakes: counter(m.handshakes, '{handshake}'),
    sessionsEnded: counter(m.sessionsEnded, '{socket}'),
    refreshes: counter(m.sessionRefreshes, '{refresh}'),
    revocations: counter(m.revocations, '{revocation}'),
    openSockets: observed(
      meter.createObservableUpDownCounter(m.openSockets.name, {
        description: m.openSockets.help,
        unit: '{socket}',
      }),
      (result) => {
        for (const transport of TRANSPORTS) result.observe(open[transport], { transport });
      },
    ),
    duration: meter.createHistogram(m.handshakeDuration.name, {
      description: m.handshakeDuration.help,
      unit: 's',
      advice: { explicitBucketBoundaries: [...WS_TICKET_DURATION_BUCKETS] },
    }),
  };
}

type Instruments = ReturnType<typeof instrumentsOf>;

/** An observable instrument with its callback added. */
function observed<T extends OpenTelemetryApi.Observable>(
  instrument: T,
  callback: OpenTelemetryApi.ObservableCallback,
): T {
  instrument.addCallback(callback);
  return instrument;
}
