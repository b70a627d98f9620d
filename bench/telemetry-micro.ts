// What publishing a handshake's events costs in CPU, measured in the bench process with no
// network or Nest around it: the accept and session-end events of one accepted socket, through
// the module's WsTicketTelemetry, with nothing observing, with the prom-client collector, and with
// the OpenTelemetry recorder on an SDK (every span sampled, batched to an exporter that drops it).
import { performance } from 'node:perf_hooks';
import * as api from '@opentelemetry/api';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Registry } from 'prom-client';
import { type WsTicketSocketPlace, WsTicketTelemetry } from '../lib/index.js';
import { collectWsTicketMetrics } from '../lib/prometheus/index.js';
import { openTelemetryRecorder } from '../lib/telemetry/open-telemetry.js';
import type { BenchTelemetry } from './constants.js';

/** Rounds (the rows taking turns) and handshakes per row and round: below the span queue's 2048. */
export const MICRO = { rounds: 15, calls: 1500 };

const PLACE: WsTicketSocketPlace = { transport: 'socket.io', namespace: '/chat' };

class PullReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/** CPU microseconds (user + system) per handshake of `calls` accept + session-end pairs. */
function measure(telemetry: WsTicketTelemetry): number {
  const before = process.cpuUsage();
  for (let i = 0; i < MICRO.calls; i++) {
    const startedAt = performance.now();
    telemetry.accepted('user-1', PLACE, startedAt);
    telemetry.ended('user-1', PLACE, null, startedAt);
  }
  const { user, system } = process.cpuUsage(before);
  return (user + system) / MICRO.calls;
}

/** The median CPU µs per handshake of each row over {@link MICRO}.rounds rounds. */
export async function telemetryMicro(): Promise<Record<BenchTelemetry, number>> {
  const meters = new MeterProvider({ readers: [new PullReader()] });
  const tracers = new BasicTracerProvider({
    spanProcessors: [
      new BatchSpanProcessor({
        export: (_spans, done) => done({ code: 0 }),
        shutdown: async () => {},
      }),
    ],
  });
  api.metrics.setGlobalMeterProvider(meters);
  api.trace.setGlobalTracerProvider(tracers);
  const samples: Record<BenchTelemetry, number[]> = { none: [], prometheus: [], otel: [] };
  try {
    const plain = new WsTicketTelemetry();
    const recorded = new WsTicketTelemetry(openTelemetryRecorder(api));
    for (let round = -2; round < MICRO.rounds; round++) {
      const none = measure(plain);
      // The collector subscribes for its own turn only: the channels are process-wide.
      const stop = collectWsTicketMetrics({ registry: new Registry() });
      const prometheus = measure(plain);
      stop();
      const otel = measure(recorded);
      await tracers.forceFlush();
      if (round >= 0) {
        samples.none.push(none);
        samples.prometheus.push(prometheus);
        samples.otel.push(otel);
      }
    }
  } finally {
    await Promise.all([meters.shutdown(), tracers.shutdown()]);
    api.metrics.disable();
    api.trace.disable();
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];
  return {
    none: median(samples.none),
    prometheus: median(samples.prometheus),
    otel: median(samples.otel),
  };
}
