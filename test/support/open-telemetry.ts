import { AsyncLocalStorage } from 'node:async_hooks';
import {
  type Attributes,
  type Context,
  type ContextManager,
  context,
  type HrTime,
  metrics,
  ROOT_CONTEXT,
  trace,
} from '@opentelemetry/api';
import { MeterProvider, type MetricData, MetricReader } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

import { ticketFor } from './app.js';
import { signJwt } from './jwt.js';

/** A reader the test pulls from: `collect()` on demand, nothing pushed anywhere. */
class PullMetricReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** Carries the active context across awaits, as @opentelemetry/context-async-hooks does. */
class AsyncContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>();

  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    active: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.storage.run(active, () => fn.call(thisArg, ...args));
  }

  bind<T>(active: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const run = (...args: unknown[]) => this.with(active, () => target(...args));
    return run as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.storage.disable();
    return this;
  }
}

/** One data point of a metric: a counter's value, or a histogram's count. */
export interface Point {
  attributes: Attributes;
  value: number;
}

/** What an OpenTelemetry SDK registered for one app records. */
export interface TestTelemetry {
  /** Every metric of the `nestjs-ws-ticket` meter, by instrument name. */
  collect(): Promise<Map<string, MetricData>>;
  /** The ended spans, in order of ending. */
  spans(): ReadableSpan[];
  /** Unregisters the providers. */
  stop(): Promise<void>;
}

/**
 * Registers a fresh OpenTelemetry SDK as the global meter, tracer and context providers, as an
 * app's tracing file does before `NestFactory.create()`: the module takes its meter at startup.
 */
export function registerOpenTelemetry(): TestTelemetry {
  metrics.disable();
  trace.disable();
  context.disable();
  const reader = new PullMetricReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  context.setGlobalContextManager(new AsyncContextManager().enable());
  metrics.setGlobalMeterProvider(meterProvider);
  trace.setGlobalTracerProvider(tracerProvider);
  return {
    async collect() {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length > 0) throw new AggregateError(errors, 'metric collection failed');
      const found = new Map<string, MetricData>();
      for (const scope of resourceMetrics.scopeMetrics) {
        if (scope.scope.name !== 'nestjs-ws-ticket') continue;
        for (const metric of scope.metrics) found.set(metric.descriptor.name, metric);
      }
      return found;
    },
    spans: () => exporter.getFinishedSpans(),
    async stop() {
      await Promise.all([meterProvider.shutdown(), tracerProvider.shutdown()]);
      metrics.disable();
      trace.disable();
      context.disable();
    },
  };
}

/**
 * A metric's points, sorted so a whole metric compares with `deepEqual`: a sum's value, a
 * histogram's count.
 */
export function pointsOf(metric: MetricData | undefined): Point[] {
  if (metric === undefined) return [];
  const points = (metric.dataPoints as Array<{ attributes: Attributes; value: unknown }>).map(
    ({ attributes, value }) => ({
      attributes: sorted(attributes),
      value: typeof value === 'number' ? value : (value as { count: number }).count,
    }),
  );
  return points.sort((a, b) =>
    JSON.stringify(a.attributes).localeCompare(JSON.stringify(b.attributes)),
  );
}

/** The attributes of the spans named `name`, keys sorted, in a stable order. */
export function spanAttributes(spans: ReadableSpan[], name: string): Attributes[] {
  return spans
    .filter((span) => span.name === name)
    .map((span) => sorted(span.attributes))
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

/** A copy with its keys in order, so two sets of attributes compare and sort as text. */
function sorted(attributes: Attributes): Attributes {
  return Object.fromEntries(Object.entries(attributes).sort(([a], [b]) => a.localeCompare(b)));
}

/** Every attribute value of every metric point and span (and span status messages), as text. */
export function recordedValues(found: Map<string, MetricData>, spans: ReadableSpan[]): string[] {
  const values: unknown[] = [];
  for (const metric of found.values()) {
    for (const point of metric.dataPoints) values.push(...Object.values(point.attributes));
  }
  for (const span of spans) {
    values.push(span.name, ...Object.values(span.attributes));
    if (span.status.message !== undefined) values.push(span.status.message);
    for (const event of span.events) values.push(...Object.values(event.attributes ?? {}));
  }
  return values.map(String);
}

/** Epoch milliseconds of an HrTime. */
export function millisOf([seconds, nanos]: HrTime): number {
  return seconds * 1000 + nanos / 1e6;
}

/** Now, in epoch milliseconds on the clock the module times operations with. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Tickets fetched from an app's endpoint, each for a fresh token of `sub`, every ticket and token
 * kept so that a test can check that none of them reached a metric or a span.
 */
export function ticketRecorder(url: () => string) {
  const tickets: string[] = [];
  const tokens: string[] = [];
  const ticket = async (sub: string, expiresIn = 600) => {
    const token = signJwt({ sub }, { expiresIn });
    tokens.push(token);
    const uuid = await ticketFor(url(), token);
    tickets.push(uuid);
    return uuid;
  };
  return { tickets, tokens, ticket };
}
