// The server side of the telemetry section (bench/telemetry.ts): what observes a server child's
// events, set up before the app is created, and the hook that tells the bench what it recorded.
import { hasSubscribers } from 'node:diagnostics_channel';
import { Controller, Get } from '@nestjs/common';
import { WS_TICKET_CHANNELS, WS_TICKET_METRICS, WsTicketService } from '../lib/index.js';
import type { BenchTelemetry } from './constants.js';

/** What `GET /bench/telemetry` answers. */
export interface TelemetryCounts {
  /** Whether the module has an OpenTelemetry recorder (`WsTicketService.telemetry.recording`). */
  recording: boolean;
  /** Whether any of the module's diagnostics channels has a subscriber. */
  subscribed: boolean;
  /** Accepted handshakes the collector counted so far; `null` when nothing collects. */
  accepted: number | null;
  /** Spans that reached the exporter (flushed first); `null` without a tracer provider. */
  spans: number | null;
}

/** What observes the server: its counts, and how to stop it. */
export abstract class TelemetryProbe {
  abstract counts(): Promise<Pick<TelemetryCounts, 'accepted' | 'spans'>>;
  abstract stop(): Promise<void>;
}

const ACCEPTED = { result: 'accepted' } as const;

/** prom-client's collector in a Registry of its own. */
async function prometheus(): Promise<TelemetryProbe> {
  const { Registry } = await import('prom-client');
  const { collectWsTicketMetrics } = await import('../lib/prometheus/index.js');
  const registry = new Registry();
  const stop = collectWsTicketMetrics({ registry });
  return {
    async counts() {
      const metric = registry.getSingleMetric(`${WS_TICKET_METRICS.handshakes.name}_total`);
      const values = metric ? (await metric.get()).values : [];
      const accepted = values
        .filter((v) => v.labels.result === ACCEPTED.result)
        .reduce((sum, v) => sum + v.value, 0);
      return { accepted, spans: null };
    },
    async stop() {
      stop();
    },
  };
}

/**
 * An OpenTelemetry SDK registered globally, as an app's tracing setup does before it creates the
 * app: a MeterProvider with a pull reader (the shape of the Prometheus exporter: collected only
 * when asked, here by the sanity check alone), and a BasicTracerProvider (every span sampled) with
 * a BatchSpanProcessor whose exporter counts the spans it is handed and drops them.
 */
async function openTelemetry(): Promise<TelemetryProbe> {
  const api = await import('@opentelemetry/api');
  const { DataPointType, MeterProvider, MetricReader } = await import('@opentelemetry/sdk-metrics');
  const { BasicTracerProvider, BatchSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  class PullReader extends MetricReader {
    protected async onForceFlush(): Promise<void> {}
    protected async onShutdown(): Promise<void> {}
  }
  let exported = 0;
  const reader = new PullReader();
  const meters = new MeterProvider({ readers: [reader] });
  const tracers = new BasicTracerProvider({
    spanProcessors: [
      new BatchSpanProcessor({
        export(spans, done) {
          exported += spans.length;
          done({ code: 0 }); // ExportResultCode.SUCCESS
        },
        async shutdown() {},
      }),
    ],
  });
  if (!api.metrics.setGlobalMeterProvider(meters) || !api.trace.setGlobalTracerProvider(tracers)) {
    throw new Error('an OpenTelemetry provider was registered already');
  }
  return {
    async counts() {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length) throw new Error(`metric collection: ${errors.join('; ')}`);
      const accepted = resourceMetrics.scopeMetrics
        .flatMap((scope) => scope.metrics)
        .flatMap((metric) =>
          metric.descriptor.name === WS_TICKET_METRICS.handshakes.name &&
          metric.dataPointType === DataPointType.SUM
            ? metric.dataPoints
            : [],
        )
        .filter((point) => point.attributes.result === ACCEPTED.result)
        .reduce((sum, point) => sum + point.value, 0);
      await tracers.forceFlush();
      return { accepted, spans: exported };
    },
    async stop() {
      await Promise.all([meters.shutdown(), tracers.shutdown()]);
      api.metrics.disable();
      api.trace.disable();
    },
  };
}

/** Sets up what observes a server of `row`: call it before the app is created. */
export async function startTelemetry(row: BenchTelemetry): Promise<TelemetryProbe> {
  if (row === 'prometheus') return prometheus();
  if (row === 'otel') return openTelemetry();
  return {
    counts: async () => ({ accepted: null, spans: null }),
    stop: async () => undefined,
  };
}

/** The telemetry section's hook (ticket variants with `telemetry` set). */
@Controller('bench/telemetry')
export class TelemetryController {
  constructor(
    private readonly probe: TelemetryProbe,
    private readonly tickets: WsTicketService,
  ) {}

  @Get()
  async counts(): Promise<TelemetryCounts> {
    return {
      recording: this.tickets.telemetry.recording,
      subscribed: Object.values(WS_TICKET_CHANNELS).some((name) => hasSubscribers(name)),
      ...(await this.probe.counts()),
    };
  }
}
