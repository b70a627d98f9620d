import { type ServerChild, startServer } from './children.js';
import { type BenchTokens, connectOnce, fetchTicket, userToken } from './client.js';
import { BENCH_USERS, type BenchTelemetry } from './constants.js';
import {
  drain,
  type HandshakeLane,
  laneCounts,
  laneFigures,
  openLane,
  runLanes,
} from './handshake-lanes.js';
import { MICRO, telemetryMicro } from './telemetry-micro.js';
import {
  OBSERVED,
  type TelemetryResult,
  type TelemetryRow,
  type TelemetryRun,
} from './telemetry-report.js';
import type { TelemetryCounts } from './telemetry-server.js';

/** How the phase runs: the connection phase's discipline. */
export interface TelemetryPlan {
  runs: number;
  warmups: number;
  slices: number;
  quick: boolean;
}

const CONCURRENCY = [1, 50] as const;
const ROWS = ['none', ...OBSERVED] as const satisfies readonly BenchTelemetry[];

type Lane = HandshakeLane<TelemetryRow>;

async function counts(url: string): Promise<TelemetryCounts> {
  const response = await fetch(`${url}/bench/telemetry`);
  if (!response.ok) throw new Error(`/bench/telemetry answered ${response.status}`);
  return (await response.json()) as TelemetryCounts;
}

/**
 * The servers are what their rows say: one handshake is counted once by the collector or the SDK
 * (which also exports two spans: the ticket's issue and the handshake), and the `none` server has
 * neither a recorder nor a subscriber.
 */
async function sanity(server: ServerChild, telemetry: BenchTelemetry, user: number) {
  const before = await counts(server.url);
  await connectOnce(server.url, { uuid: await fetchTicket(server.url, userToken(user)) });
  await drain(server.url);
  const after = await counts(server.url);
  const delta = (pick: (c: TelemetryCounts) => number | null) => {
    const [b, a] = [pick(before), pick(after)];
    return a === null || b === null ? null : a - b;
  };
  const seen = {
    recording: after.recording,
    subscribed: after.subscribed,
    accepted: delta((c) => c.accepted),
    spans: delta((c) => c.spans),
  };
  const expected: Record<BenchTelemetry, typeof seen> = {
    none: { recording: false, subscribed: false, accepted: null, spans: null },
    prometheus: { recording: false, subscribed: true, accepted: 1, spans: null },
    otel: { recording: true, subscribed: false, accepted: 1, spans: 2 },
  };
  const want = expected[telemetry];
  if (JSON.stringify(seen) !== JSON.stringify(want)) {
    throw new Error(
      `telemetry sanity (${telemetry}): one handshake gave ${JSON.stringify(seen)}; ` +
        `expected ${JSON.stringify(want)}`,
    );
  }
}

/**
 * The phase: three server children (one per row) started for it and stopped after; per concurrency
 * {@link TelemetryPlan.warmups} untimed runs, then the timed ones.
 */
export async function telemetryPhase(
  tokens: BenchTokens,
  plan: TelemetryPlan,
  nodeFlags: string[],
  log: (line: string) => void,
): Promise<TelemetryResult> {
  const whole = (n: number) => Math.ceil(n / plan.slices) * plan.slices;
  const counted: Record<number, number> = plan.quick ? { 1: 120, 50: 400 } : { 1: 480, 50: 1600 };
  const count = Object.fromEntries(CONCURRENCY.map((c) => [c, whole(counted[c])]));
  const result: TelemetryResult = {
    users: BENCH_USERS,
    count,
    burst: Object.fromEntries(CONCURRENCY.map((c) => [c, Math.ceil(count[c] / 5)])),
    slices: plan.slices,
    micro: undefined,
    microCalls: MICRO.calls,
    microRounds: MICRO.rounds,
    rows: CONCURRENCY.flatMap((concurrency) =>
      ROWS.map((telemetry) => ({ telemetry, concurrency, runs: [] })),
    ),
  };
  // In this process, before any server child competes for the CPU.
  result.micro = await telemetryMicro();
  log(`telemetry events CPU µs/handshake: ${JSON.stringify(result.micro)}`);
  const servers = new Map<BenchTelemetry, ServerChild>();
  try {
    const started = await Promise.all(
      ROWS.map((telemetry) => startServer({ variant: 'ticket-memory', telemetry }, nodeFlags)),
    );
    for (const [i, telemetry] of ROWS.entries()) servers.set(telemetry, started[i]);
    // Users past the round-robin ones (and the refresh phase's).
    for (const [i, telemetry] of ROWS.entries()) {
      await sanity(servers.get(telemetry)!, telemetry, 2 * BENCH_USERS + i);
    }

    for (const concurrency of CONCURRENCY) {
      const rows = result.rows.filter((r) => r.concurrency === concurrency);
      const counts = laneCounts(result, concurrency);
      for (let rep = -plan.warmups; rep < plan.runs; rep++) {
        // All at once: the servers issue in parallel.
        const lanes: Lane[] = await Promise.all(
          rows.map((row) => openLane(row, servers.get(row.telemetry)!, tokens, counts)),
        );
        await runLanes(lanes, counts, rep + plan.warmups);
        const runs = new Map<BenchTelemetry, TelemetryRun>(
          lanes.map((lane) => [lane.row.telemetry, laneFigures(lane, counts)]),
        );
        if (rep >= 0) for (const lane of lanes) lane.row.runs.push(runs.get(lane.row.telemetry)!);
        const none = runs.get('none')!;
        const line = ROWS.map((telemetry) => {
          const run = runs.get(telemetry)!;
          const ratio = telemetry === 'none' ? '' : ` (${(run.rate / none.rate).toFixed(3)}×)`;
          return `${telemetry} ${run.rate.toFixed(0)}/s ${run.cpuPerOp.toFixed(0)} µs${ratio}`;
        });
        const label =
          rep < 0
            ? `warm-up ${rep + plan.warmups + 1}/${plan.warmups}`
            : `run ${rep + 1}/${plan.runs}`;
        log(`telemetry @${concurrency}: ${label}: ${line.join(', ')}`);
      }
    }
  } finally {
    await Promise.all([...servers.values()].map((server) => server.stop()));
  }
  return result;
}
