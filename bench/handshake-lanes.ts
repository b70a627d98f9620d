// What the connection cap and telemetry phases share: rows of Socket.IO handshakes (ticket fetched
// before the clock, `io()` → `connect`, close), each on its own server child, taking turns in
// slices; a slice ends once its server has seen its last close (drain).
import { performance } from 'node:perf_hooks';
import type { ServerChild } from './children.js';
import {
  type BenchTokens,
  connectOnce,
  fetchTickets,
  pool,
  rotate,
  serverStats,
  settle,
} from './client.js';
import { percentile } from './report.js';

/** Waits until the server has closed every connection (and given back their slots). */
export async function drain(url: string): Promise<void> {
  const response = await fetch(`${url}/bench/cap/drain`, { method: 'POST' });
  if (!response.ok) throw new Error(`drain answered ${response.status}`);
  await response.arrayBuffer();
}

/** A row's state in one run. */
export interface HandshakeLane<Row extends { concurrency: number }> {
  row: Row;
  server: ServerChild;
  tickets: string[];
  latencies: Float64Array;
  /** Seconds of the timed slices. */
  elapsed: number;
  /** Server CPU microseconds of the timed slices. */
  cpu: number;
}

/** How many handshakes a run makes per lane: the untimed burst, then the slices. */
export interface LaneCounts {
  burst: number;
  count: number;
  slices: number;
}

/** A concurrency's counts in a phase's result (`burst`, `count` by concurrency; `slices`). */
export function laneCounts(
  result: { burst: Record<number, number>; count: Record<number, number>; slices: number },
  concurrency: number,
): LaneCounts {
  return {
    burst: result.burst[concurrency],
    count: result.count[concurrency],
    slices: result.slices,
  };
}

/** A lane for one run: the burst's and the slices' tickets fetched from its server before the clock. */
export async function openLane<Row extends { concurrency: number }>(
  row: Row,
  server: ServerChild,
  tokens: BenchTokens,
  counts: LaneCounts,
): Promise<HandshakeLane<Row>> {
  const total = counts.burst + counts.count;
  return {
    row,
    server,
    tickets: await fetchTickets(server.url, tokens, total),
    latencies: new Float64Array(total),
    elapsed: 0,
    cpu: 0,
  };
}

/** What a phase reads around each timed slice of a lane besides the server's CPU time. */
export interface SliceProbe<Lane> {
  before(lane: Lane): Promise<void>;
  after(lane: Lane): Promise<void>;
}

/** Handshakes `from` … `from + n - 1` of a lane, `concurrency` in flight. */
function operate<Row extends { concurrency: number }>(
  lane: HandshakeLane<Row>,
  from: number,
  n: number,
): Promise<void> {
  const { url } = lane.server;
  return pool(n, lane.row.concurrency, async (j) => {
    const i = from + j;
    lane.latencies[i] = await connectOnce(url, { uuid: lane.tickets[i] });
  });
}

/**
 * One run of a concurrency's lanes: an untimed burst of every lane, a minor GC in the bench and
 * the servers, then the lanes take turns in slices, the order rotating with `rep`. A slice ends
 * once its server drained; the server's CPU time (and what `probe` reads) is read around it.
 */
export async function runLanes<
  Row extends { concurrency: number },
  Lane extends HandshakeLane<Row>,
>(lanes: Lane[], counts: LaneCounts, rep: number, probe?: SliceProbe<Lane>): Promise<void> {
  const size = counts.count / counts.slices;
  for (const lane of lanes) {
    await operate(lane, 0, counts.burst);
    await drain(lane.server.url);
  }
  for (const lane of lanes) await settle(lane.server.url);
  for (let slice = 0; slice < counts.slices; slice++) {
    for (const lane of rotate(lanes, rep + slice)) {
      await probe?.before(lane);
      const before = (await serverStats(lane.server.url)).cpu;
      const started = performance.now();
      await operate(lane, counts.burst + slice * size, size);
      await drain(lane.server.url);
      lane.elapsed += (performance.now() - started) / 1000;
      lane.cpu += (await serverStats(lane.server.url)).cpu - before;
      await probe?.after(lane);
    }
  }
}

/** A lane's rate, latency and server CPU per handshake over its timed slices. */
export function laneFigures<Row extends { concurrency: number }>(
  lane: HandshakeLane<Row>,
  counts: LaneCounts,
) {
  const timed = lane.latencies.subarray(counts.burst);
  return {
    rate: counts.count / lane.elapsed,
    p50: percentile(timed, 0.5),
    p99: percentile(timed, 0.99),
    cpuPerOp: lane.cpu / counts.count,
  };
}
