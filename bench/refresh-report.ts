// What the session refresh phase (bench/refresh.ts) measured, and how bench/RESULTS.md shows it:
// the section's body, its setting line and its target.
import { WS_TICKET_REFRESH_LIMIT } from '../lib/index.js';
import { medianOf, spread, type Target, table, withSpread } from './report.js';

export type RefreshStore = 'memory' | 'redis';

/** One timed run of a row, over all its slices. */
export interface RefreshRun {
  /** Operations per second. */
  rate: number;
  /** Latency (handshake: `io()` → `connect`; refresh: emit → ack), milliseconds. */
  p50: number;
  p99: number;
  /** Server CPU (user + system) per operation, microseconds. */
  cpuPerOp: number;
}

export interface RefreshRow {
  store: RefreshStore;
  /** `handshake`: ticket fetched before the clock, connect, close; `refresh`: on an open socket. */
  op: 'handshake' | 'refresh';
  runs: RefreshRun[];
  skipped?: string;
}

export interface RefreshResult {
  /** Operations in flight. */
  concurrency: number;
  /** Operations per timed run of a row, and in the untimed burst before the clock. */
  count: number;
  burst: number;
  /** Sockets a refresh row opens per run (at most {@link WS_TICKET_REFRESH_LIMIT} refreshes each). */
  sockets: number;
  slices: number;
  /** Pause after each slice before the server's CPU time is read, milliseconds. */
  pause: number;
  rows: RefreshRow[];
}

const STORE_LABEL: Record<RefreshStore, string> = {
  memory: '(c) memory store',
  redis: '(d) Redis store',
};

function rowOf(result: RefreshResult, store: RefreshStore, op: RefreshRow['op']): RefreshRow {
  return result.rows.find((r) => r.store === store && r.op === op)!;
}

/** Median server CPU of a store's refresh over that of its handshake, or undefined if skipped. */
export function refreshCpuRatio(result: RefreshResult, store: RefreshStore): number | undefined {
  const cpu = (op: RefreshRow['op']) => medianOf(rowOf(result, store, op).runs, (r) => r.cpuPerOp);
  const refresh = cpu('refresh');
  const handshake = cpu('handshake');
  return refresh === undefined || handshake === undefined ? undefined : refresh / handshake;
}

/** The Targets row: a refresh costs the server no more CPU than the handshake it replaces. */
export function refreshTargets(result: RefreshResult): Target[] {
  const stores = ['memory', 'redis'] as const;
  const ratios = stores.map((store) => refreshCpuRatio(result, store));
  const measured = ratios.filter((r): r is number => r !== undefined);
  const value = stores
    .map((store, i) => {
      const ratio = ratios[i];
      if (ratio !== undefined) return `${ratio.toFixed(3)}×`;
      return `${store} skipped: ${rowOf(result, store, 'refresh').skipped}`;
    })
    .join(' / ');
  return [
    {
      name: 'Refresh server CPU ≤ 1.0× handshake (memory / redis)',
      value,
      met: measured.length ? measured.every((r) => r <= 1) : undefined,
    },
  ];
}

export function refreshSetting(result: RefreshResult): string {
  return (
    `Session refresh vs handshake: ${result.count} handshakes and ${result.count} refreshes per ` +
    `run and store, ${result.concurrency} in flight (after an untimed burst of ${result.burst} ` +
    `each); the refreshes go round robin over ${result.sockets} sockets opened for the run, at ` +
    `most ${WS_TICKET_REFRESH_LIMIT} each (the per-connection limit). Module defaults ` +
    '(`refreshWindow` 60 s): the JWTs live 1 h, so no `ws-ticket:expiring` fires during the bench'
  );
}

/** The body of the section: what was done, the table. */
export function refreshSection(result: RefreshResult): string[] {
  const out: string[] = [];
  out.push(
    'Whether extending a live session (`ws-ticket:refresh`, issue #13) costs the server more than ' +
      'the handshake a client would otherwise redo. On the (c) memory-store and (d) Redis-store ' +
      'servers of section 1, Socket.IO over WebSocket, with ' +
      `${result.concurrency} operations in flight. Handshake: as in section 1, the ticket fetched ` +
      'before the clock, `io()` → `connect`, close. Refresh: before the clock, ' +
      `${result.sockets} sockets are opened (a user of their own each) and a fresh ticket of each ` +
      "socket's user is fetched per refresh; each client then emits `ws-ticket:refresh` " +
      '`{ uuid }` on its already-connected socket and waits for the ack, which must be ' +
      '`{ ok: true, expiresAt }` (every ack is checked). A connection may refresh ' +
      `${WS_TICKET_REFRESH_LIMIT} times a minute, so the refreshes go round robin over the ` +
      'sockets, at most that many each, and every run opens new sockets. The four rows take turns ' +
      `in ${result.slices} slices per run, the order rotating. The two rows of a store share its ` +
      "server, so the server's CPU time is read before and after each slice (after a " +
      `${result.pause} ms pause that lets the handshakes' closes land): it covers everything the ` +
      'server did for the operations, the close of each handshake socket included.',
    '',
  );
  const f0 = (n: number) => n.toFixed(0);
  const f2 = (n: number) => n.toFixed(2);
  const rows = result.rows.map((r) => {
    const label = [STORE_LABEL[r.store], r.op];
    if (r.skipped || r.runs.length === 0) {
      return [...label, `SKIPPED: ${r.skipped}`, '', '', '', '', ''];
    }
    const handshake = rowOf(result, r.store, 'handshake').runs;
    const ratio = (pick: (run: RefreshRun) => number) => {
      const base = medianOf(handshake, pick);
      return base ? `${f2(medianOf(r.runs, pick)! / base)}×` : '';
    };
    return [
      ...label,
      withSpread(spread(r.runs.map((x) => x.rate)), f0),
      ratio((x) => x.rate),
      withSpread(spread(r.runs.map((x) => x.p50)), f2),
      withSpread(spread(r.runs.map((x) => x.p99)), f2),
      withSpread(spread(r.runs.map((x) => x.cpuPerOp)), f0),
      ratio((x) => x.cpuPerOp),
    ];
  });
  out.push(
    table(
      [
        'Store',
        'Operation',
        'Ops/s',
        '× handshake',
        'p50 ms',
        'p99 ms',
        'Server CPU µs/op',
        'CPU × handshake',
      ],
      rows,
    ),
    '',
  );
  return out;
}
