// What the telemetry phase (bench/telemetry.ts) measured, and how bench/RESULTS.md shows it: the
// section's body, its setting line and its targets.
import type { BenchTelemetry } from './constants.js';
import { medianOf, spread, type Target, table, withSpread } from './report.js';

/** One timed run of a row, over all its slices. */
export interface TelemetryRun {
  /** Handshakes per second, each one's close included. */
  rate: number;
  /** Handshake latency, `io()` → `connect`, milliseconds. */
  p50: number;
  p99: number;
  /** Server CPU (user + system) per handshake, microseconds. */
  cpuPerOp: number;
}

export interface TelemetryRow {
  telemetry: BenchTelemetry;
  concurrency: number;
  runs: TelemetryRun[];
}

export interface TelemetryResult {
  /** Distinct users the tickets go round robin over. */
  users: number;
  /** Handshakes per timed run of a row, and in the untimed burst before the clock, by concurrency. */
  count: Record<number, number>;
  burst: Record<number, number>;
  slices: number;
  /** In-process CPU µs of one handshake's events (accept + session-end), by row. */
  micro: Record<BenchTelemetry, number> | undefined;
  microCalls: number;
  microRounds: number;
  rows: TelemetryRow[];
}

/** The rate a handshake keeps when observed, of the rate with nothing observing: the figure. */
export const TELEMETRY_TARGET = 0.97;

/** The rows observed by something, in the order of the tables. */
export const OBSERVED = ['prometheus', 'otel'] as const;

export const TELEMETRY_LABEL: Record<BenchTelemetry, string> = {
  none: 'none (`openTelemetry: false`, no subscriber)',
  prometheus: 'prom-client collector',
  otel: 'OpenTelemetry SDK',
};

function rowOf(result: TelemetryResult, telemetry: BenchTelemetry, concurrency: number) {
  return result.rows.find((r) => r.telemetry === telemetry && r.concurrency === concurrency)!;
}

function concurrencies(result: TelemetryResult): number[] {
  return [...new Set(result.rows.map((r) => r.concurrency))];
}

/** Median figure of a row over the same of `none`, or undefined without runs. */
function ratioToNone(
  result: TelemetryResult,
  row: TelemetryRow,
  pick: (run: TelemetryRun) => number,
): number | undefined {
  const value = medianOf(row.runs, pick);
  const none = medianOf(rowOf(result, 'none', row.concurrency).runs, pick);
  return value === undefined || !none ? undefined : value / none;
}

/** The Targets rows: each observed row's rate at least {@link TELEMETRY_TARGET}× `none`'s. */
export function telemetryTargets(result: TelemetryResult): Target[] {
  return concurrencies(result).map((concurrency) => {
    const ratios = OBSERVED.map((t) =>
      ratioToNone(result, rowOf(result, t, concurrency), (r) => r.rate),
    );
    const measured = ratios.filter((r): r is number => r !== undefined);
    return {
      name:
        `Handshakes/s with a subscriber ≥ ${TELEMETRY_TARGET}× with none (prom-client / ` +
        `OpenTelemetry SDK), concurrency ${concurrency}`,
      value: ratios.map((r) => (r === undefined ? 'not measured' : `${r.toFixed(3)}×`)).join(' / '),
      met:
        measured.length === OBSERVED.length
          ? measured.every((r) => r >= TELEMETRY_TARGET)
          : undefined,
    };
  });
}

export function telemetrySetting(result: TelemetryResult): string {
  const counts = concurrencies(result)
    .map((c) => `${result.count[c]} at concurrency ${c} (burst ${result.burst[c]})`)
    .join(', ');
  return (
    'Telemetry: three fresh memory-store server children (nothing observing, the prom-client ' +
    `collector, an OpenTelemetry SDK); handshakes per run and row ${counts}, tickets of ` +
    `${result.users} users round robin`
  );
}

/** The body of the section: what was done, the table. */
export function telemetrySection(result: TelemetryResult): string[] {
  const out: string[] = [];
  out.push(
    "What observing the module's events costs a handshake. Three server children started for " +
      'this section, alike (memory store, module defaults) but for what observes them: (a) ' +
      'nothing: `openTelemetry: false` and no subscriber on the diagnostics channels, so the ' +
      'module builds no event at all; (b) the prom-client collector, `collectWsTicketMetrics()` ' +
      'of `nestjs-ws-ticket/prometheus` into a Registry of its own, subscribed before the app is ' +
      'created (`openTelemetry: false`): each handshake publishes an accept event that counts ' +
      '`ws_ticket_handshakes_total`, observes the duration histogram and raises the open-sockets ' +
      'gauge, and its close a session-end event that lowers it; (c) an OpenTelemetry SDK ' +
      'registered globally before the app is created (`openTelemetry: true`, no diagnostics ' +
      'subscriber): a MeterProvider with a pull reader, the shape of the Prometheus exporter, ' +
      'collected only by the sanity check, and a BasicTracerProvider sampling every span into a ' +
      'BatchSpanProcessor whose exporter drops them, so each handshake records the same ' +
      'instruments and one `ws_ticket.handshake` span. Not measured: what production does on ' +
      "other timers, the metrics scrape and the spans' serialization and sending. The workload " +
      "is section 8's (Socket.IO over WebSocket, the ticket fetched before the clock, `io()` → " +
      '`connect`, close; a slice ends ' +
      'when the server has seen its last close); the issue events of the ticket fetches fall ' +
      'outside the clock. Before the runs, one handshake per server is checked to be counted ' +
      'once by (b) and (c) (`ws_ticket_handshakes_total{result="accepted"}`, the OTel counter ' +
      'as collected, and two spans flushed: the issue and the handshake) and (a) to have no ' +
      'recorder and no subscriber; the bench stops otherwise. One warm-up run, then the timed ' +
      `runs; in a run the three rows take turns in ${result.slices} slices, the order rotating, ` +
      "each after an untimed burst and a minor GC. Server CPU is the server process's " +
      'user+system time read around each slice. Events CPU is measured in the bench process, ' +
      "before the servers start, without network or Nest: one handshake's events (accept, then " +
      "session-end) published through the module's `WsTicketTelemetry` with the row's observer " +
      `(the collector subscribed for its turn only; the OpenTelemetry recorder on the same SDK), ` +
      `CPU time per handshake, the median of ${result.microRounds} rounds of ` +
      `${result.microCalls} per row, the rows taking turns.`,
    '',
  );
  const f0 = (n: number) => n.toFixed(0);
  const f2 = (n: number) => n.toFixed(2);
  const f3 = (n: number) => n.toFixed(3);
  const times = (row: TelemetryRow, pick: (run: TelemetryRun) => number) => {
    if (row.telemetry === 'none') return '—';
    const ratio = ratioToNone(result, row, pick);
    return ratio === undefined ? '' : `${f3(ratio)}×`;
  };
  const rows = result.rows.map((r) => {
    const label = [TELEMETRY_LABEL[r.telemetry], String(r.concurrency)];
    if (r.runs.length === 0) return [...label, 'not measured', '', '', '', '', '', ''];
    return [
      ...label,
      withSpread(spread(r.runs.map((x) => x.rate)), f0),
      times(r, (x) => x.rate),
      withSpread(spread(r.runs.map((x) => x.p50)), f2),
      withSpread(spread(r.runs.map((x) => x.p99)), f2),
      withSpread(spread(r.runs.map((x) => x.cpuPerOp)), f0),
      times(r, (x) => x.cpuPerOp),
      result.micro ? f2(result.micro[r.telemetry]) : '',
    ];
  });
  out.push(
    table(
      [
        'Telemetry',
        'Conc.',
        'Handshakes/s',
        '× none',
        'p50 ms',
        'p99 ms',
        'Server CPU µs/handshake',
        '× none',
        'Events CPU µs',
      ],
      rows,
    ),
    '',
  );
  // The rows of a run shared its minutes: their ratio within each run shows what drift between
  // runs hides in the medians.
  const paired = result.rows.flatMap((row) => {
    if (row.telemetry === 'none' || row.runs.length === 0) return [];
    const none = rowOf(result, 'none', row.concurrency).runs;
    const ratios = row.runs.map((run, i) => run.rate / none[i].rate);
    return [
      `${TELEMETRY_LABEL[row.telemetry]} @${row.concurrency} ${withSpread(spread(ratios), f3)}`,
    ];
  });
  if (paired.length) out.push(`Handshakes/s ÷ none within each run: ${paired.join(', ')}.`, '');
  const busiest = Math.max(...concurrencies(result));
  const noneCpu = medianOf(rowOf(result, 'none', busiest).runs, (x) => x.cpuPerOp);
  if (result.micro && noneCpu) {
    const share = (telemetry: BenchTelemetry) =>
      `${f2(result.micro![telemetry])} µs (${((100 * result.micro![telemetry]) / noneCpu).toFixed(1)}%)`;
    out.push(
      `A handshake's events cost ${share('prometheus')} of CPU with the prom-client collector and ` +
        `${share('otel')} with the OpenTelemetry SDK, ${f2(result.micro.none)} µs with nothing ` +
        `observing, against the ${f0(noneCpu)} µs the unobserved server spends per handshake at ` +
        `concurrency ${busiest}: what the rates above cannot resolve under their run-to-run spread.`,
      '',
    );
  }
  return out;
}
