import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Counter, Gauge, Histogram, type Registry, register } from 'prom-client';
import {
  WS_TICKET_CHANNELS,
  type WsTicketAcceptEvent,
  type WsTicketRefreshEvent,
  type WsTicketRefuseEvent,
  type WsTicketRevokeEvent,
  type WsTicketSessionEndEvent,
} from '../telemetry/ws-ticket-events.js';
import { WS_TICKET_DURATION_BUCKETS, WS_TICKET_METRICS } from '../telemetry/ws-ticket-metrics.js';

/** Options of {@link collectWsTicketMetrics}. */
export interface WsTicketPrometheusOptions {
  /**
   * The prom-client registry the metrics are registered in.
   * @default prom-client's global `register`
   */
  registry?: Registry | undefined;
}

/**
 * Counts the module's events ({@link WS_TICKET_CHANNELS}) of this process in prom-client metrics
 * named as {@link WS_TICKET_METRICS}: `ws_ticket_issued_total`,
 * `ws_ticket_handshakes_total{result,code,transport}`, `ws_ticket_handshake_duration_seconds`,
 * `ws_ticket_sessions_ended_total{code,transport}`, `ws_ticket_open_sockets{transport}`… Labels
 * hold codes, results and transports, never user ids. Counts are per process, not per app (the
 * channels are process-wide). Call it once, before the app listens: `ws_ticket_open_sockets`
 * counts the sockets accepted since the call (those open before it are left out). A Socket.IO
 * connection multiplexing two namespaces is two sockets. Serve the registry's `metrics()` yourself
 * (`GET /metrics`). Returns a function that stops counting and removes the metrics from the
 * registry.
 *
 * ```ts
 * import { collectWsTicketMetrics } from 'nestjs-ws-ticket/prometheus';
 * collectWsTicketMetrics(); // into prom-client's global register
 * ```
 * @throws Error when the registry holds a metric of one of these names already (nothing is
 *   registered then)
 */
export function collectWsTicketMetrics(options: WsTicketPrometheusOptions = {}): () => void {
  const registry = options.registry ?? register;
  const registers = [registry];
  const m = WS_TICKET_METRICS;
  const counters = [
    m.issued,
    m.issueRefused,
    m.handshakes,
    m.sessionsEnded,
    m.sessionRefreshes,
    m.revocations,
  ];
  const names = [
    ...counters.map((metric) => `${metric.name}_total`),
    m.handshakeDuration.name,
    m.openSockets.name,
  ];
  // All or nothing: a registry holding one of the names gets none of them.
  const taken = names.find((name) => registry.getSingleMetric(name) !== undefined);
  if (taken !== undefined) {
    throw new Error(
      `collectWsTicketMetrics: the registry holds a metric named ${taken} already (collect once per registry; call the function it returned to stop).`,
    );
  }
  const counter = <T extends string>(metric: {
    name: string;
    help: string;
    labels: readonly T[];
  }) =>
    new Counter<T>({
      name: `${metric.name}_total`,
      help: metric.help,
      labelNames: metric.labels,
      registers,
    });
  const issued = counter(m.issued);
  const issueRefused = counter(m.issueRefused);
  const handshakes = counter(m.handshakes);
  const sessionsEnded = counter(m.sessionsEnded);
  const refreshes = counter(m.sessionRefreshes);
  const revocations = counter(m.revocations);
  const duration = new Histogram({
    name: m.handshakeDuration.name,
    help: m.handshakeDuration.help,
    labelNames: m.handshakeDuration.labels,
    buckets: [...WS_TICKET_DURATION_BUCKETS],
    registers,
  });
  const openSockets = new Gauge({
    name: m.openSockets.name,
    help: m.openSockets.help,
    labelNames: m.openSockets.labels,
    registers,
  });

  /** When counting began (`performance.now()`): the sockets open then are not in the gauge. */
  const since = performance.now();
  // A series from the start for each transport: a dashboard shows 0, not "no data".
  for (const transport of ['socket.io', 'ws']) openSockets.set({ transport }, 0);

  const listeners: Record<keyof typeof WS_TICKET_CHANNELS, (message: unknown) => void> = {
    issue: () => issued.inc(),
    refuse: (message) => {
      const { stage, code, transport, durationMs } = message as WsTicketRefuseEvent;
      if (stage === 'issue') {
        issueRefused.inc({ code });
        return;
      }
      handshakes.inc({ result: 'refused', code, transport });
      duration.observe({ result: 'refused', transport }, durationMs / 1000);
    },
    accept: (message) => {
      const { transport, durationMs } = message as WsTicketAcceptEvent;
      handshakes.inc({ result: 'accepted', transport });
      duration.observe({ result: 'accepted', transport }, durationMs / 1000);
      openSockets.inc({ transport });
    },
    sessionEnd: (message) => {
      const { transport, code, durationMs } = message as WsTicketSessionEndEvent;
      // A socket accepted before the collector started was never counted open.
      if (performance.now() - durationMs >= since) openSockets.dec({ transport });
      if (code !== null) sessionsEnded.inc({ code, transport });
    },
    revoke: (message) => revocations.inc({ action: (message as WsTicketRevokeEvent).action }),
    refresh: (message) => {
      const { result, code, transport } = message as WsTicketRefreshEvent;
      refreshes.inc(code === null ? { result, transport } : { result, code, transport });
    },
  };
  const channels = Object.keys(listeners) as (keyof typeof WS_TICKET_CHANNELS)[];
  for (const channel of channels) subscribe(WS_TICKET_CHANNELS[channel], listeners[channel]);
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    for (const channel of channels) unsubscribe(WS_TICKET_CHANNELS[channel], listeners[channel]);
    for (const name of names) registry.removeSingleMetric(name);
  };
}
