// What the connection cap phase (bench/cap.ts) measured, and how bench/RESULTS.md shows it: the
// section's body, its setting line and its targets.
import { medianOf, spread, type Target, table, withSpread } from './report.js';

export type CapStore = 'memory' | 'redis';

/** One timed run of a row, over all its slices. */
export interface CapRun {
  /** Handshakes per second, each one's close and slot release included. */
  rate: number;
  /** Handshake latency, `io()` → `connect`, milliseconds. */
  p50: number;
  p99: number;
  /** Server CPU (user + system) per handshake, microseconds. */
  cpuPerOp: number;
  /** redis-server CPU (user + system) per handshake, microseconds (Redis rows only). */
  redisCpuPerOp?: number;
}

export interface CapRow {
  store: CapStore;
  /** `on`: the module's default cap; `off`: `maxConnectionsPerUser: false`. */
  cap: 'on' | 'off';
  concurrency: number;
  runs: CapRun[];
  skipped?: string;
}

export interface CapResult {
  /** `maxConnectionsPerUser` of the `on` servers. */
  max: number;
  /** Distinct users the tickets go round robin over. */
  users: number;
  /** Handshakes per timed run of a row, and in the untimed burst before the clock, by concurrency. */
  count: Record<number, number>;
  burst: Record<number, number>;
  slices: number;
  rows: CapRow[];
}

/** The ratio a handshake with the cap keeps of one without (rate), the contract's figure. */
export const CAP_TARGET = 0.97;

const STORE_LABEL: Record<CapStore, string> = {
  memory: 'memory store',
  redis: 'Redis store',
};

function rowOf(result: CapResult, store: CapStore, cap: CapRow['cap'], concurrency: number) {
  return result.rows.find(
    (r) => r.store === store && r.cap === cap && r.concurrency === concurrency,
  )!;
}

/** Median figure with the cap over the same without, or undefined if skipped. */
export function capRatio(
  result: CapResult,
  store: CapStore,
  concurrency: number,
  pick: (run: CapRun) => number,
): number | undefined {
  const on = medianOf(rowOf(result, store, 'on', concurrency).runs, pick);
  const off = medianOf(rowOf(result, store, 'off', concurrency).runs, pick);
  return on === undefined || off === undefined ? undefined : on / off;
}

function concurrencies(result: CapResult): number[] {
  return [...new Set(result.rows.map((r) => r.concurrency))];
}

/** The Targets rows: the rate with the cap at least {@link CAP_TARGET}× the rate without. */
export function capTargets(result: CapResult): Target[] {
  const stores = ['memory', 'redis'] as const;
  return concurrencies(result).map((concurrency) => {
    const ratios = stores.map((store) => capRatio(result, store, concurrency, (r) => r.rate));
    const measured = ratios.filter((r): r is number => r !== undefined);
    const value = stores
      .map((store, i) => {
        const ratio = ratios[i];
        if (ratio !== undefined) return `${ratio.toFixed(3)}×`;
        return `${store} skipped: ${rowOf(result, store, 'on', concurrency).skipped}`;
      })
      .join(' / ');
    return {
      name:
        `Handshakes/s with \`maxConnectionsPerUser\` ${result.max} ≥ ${CAP_TARGET}× with it off ` +
        `(memory / redis), concurrency ${concurrency}`,
      value,
      met: measured.length ? measured.every((r) => r >= CAP_TARGET) : undefined,
    };
  });
}

export function capSetting(result: CapResult): string {
  const counts = concurrencies(result)
    .map((c) => `${result.count[c]} at concurrency ${c} (burst ${result.burst[c]})`)
    .join(', ');
  return (
    `Connection cap on vs off: four fresh server children (memory and Redis store, ` +
    `\`maxConnectionsPerUser\` ${result.max} (the default) and \`false\`); handshakes per run and ` +
    `row ${counts}, tickets of ${result.users} users round robin, so no user comes near the cap`
  );
}

/** The body of the section: what was done, the table. */
export function capSection(result: CapResult): string[] {
  const out: string[] = [];
  out.push(
    'What `maxConnectionsPerUser` costs a handshake. Four server children started for this ' +
      "section, alike but for the option: memory store and Redis store (the bench's redis-server), " +
      `each with the module's default cap (${result.max}, \`onConnectionLimit: 'refuse'\`, lease ` +
      '60 s) and with `maxConnectionsPerUser: false`. With the cap, each admitted handshake takes ' +
      "a slot in its user's connection set (one store call: a Lua script on Redis, a Map " +
      "operation in memory) and each close gives it back (one more). The workload is section 1's " +
      '(Socket.IO over WebSocket, the ticket fetched before the clock, `io()` → `connect`, close), ' +
      `the tickets going round robin over ${result.users} users, so that a user holds at most one ` +
      `connection at a time, far below ${result.max}: every handshake must be admitted (a refusal ` +
      'stops the bench). The slot release is inside the measured time: a slice ends when the ' +
      'server answers a drain hook, which waits until its last connection has closed and then ' +
      'makes one store call (answered after the releases); the cap-off servers answer the same ' +
      'hook, so both pay it alike. Renewals (every 20 s per user with a connection open) do not ' +
      'come into it: no connection lives that long. Before the runs, a socket held open is checked ' +
      'to count 1 with the cap and nothing without, and 0 once closed. One warm-up run, then the ' +
      `timed runs; in a run the four rows take turns in ${result.slices} slices, the order ` +
      "rotating, each after an untimed burst and a minor GC. Server CPU is the server process's " +
      'user+system time read around each slice; Redis CPU is `INFO cpu` of the redis-server ' +
      '(shared by both Redis rows, which never run at once).',
    '',
  );
  const f0 = (n: number) => n.toFixed(0);
  const f2 = (n: number) => n.toFixed(2);
  const f3 = (n: number) => n.toFixed(3);
  const rows = result.rows.map((r) => {
    const label = [
      STORE_LABEL[r.store],
      r.cap === 'on' ? `on (${result.max})` : 'off',
      String(r.concurrency),
    ];
    if (r.skipped || r.runs.length === 0) {
      return [...label, `SKIPPED: ${r.skipped}`, '', '', '', '', '', '', '', ''];
    }
    const off = rowOf(result, r.store, 'off', r.concurrency).runs;
    const ratio = (pick: (run: CapRun) => number) => {
      const base = medianOf(off, pick);
      return base ? `${f2(medianOf(r.runs, pick)! / base)}×` : '';
    };
    const redis = r.runs.every((x) => x.redisCpuPerOp !== undefined);
    return [
      ...label,
      withSpread(spread(r.runs.map((x) => x.rate)), f0),
      ratio((x) => x.rate),
      withSpread(spread(r.runs.map((x) => x.p50)), f2),
      ratio((x) => x.p50),
      withSpread(spread(r.runs.map((x) => x.p99)), f2),
      ratio((x) => x.p99),
      withSpread(spread(r.runs.map((x) => x.cpuPerOp)), f0),
      ratio((x) => x.cpuPerOp),
      redis ? withSpread(spread(r.runs.map((x) => x.redisCpuPerOp!)), f0) : '—',
    ];
  });
  out.push(
    table(
      [
        'Store',
        'Cap',
        'Conc.',
        'Handshakes/s',
        '× off',
        'p50 ms',
        '× off',
        'p99 ms',
        '× off',
        'Server CPU µs/handshake',
        '× off',
        'Redis CPU µs/handshake',
      ],
      rows,
    ),
    '',
  );
  // The rows of a run shared its minutes: their ratio within each run shows what drift between
  // runs hides in the medians.
  const paired = result.rows.flatMap((on) => {
    if (on.cap !== 'on' || on.skipped || on.runs.length === 0) return [];
    const off = rowOf(result, on.store, 'off', on.concurrency).runs;
    const ratios = on.runs.map((run, i) => run.rate / off[i].rate);
    return [`${STORE_LABEL[on.store]} @${on.concurrency} ${withSpread(spread(ratios), f3)}`];
  });
  if (paired.length) {
    out.push(`Handshakes/s on ÷ off within each run: ${paired.join(', ')}.`, '');
  }
  return out;
}
