// The scale section: heap per held socket at ~20k sockets in one server process (bare gateway vs
// the module, Socket.IO and raw ws), and tickets consumed per second by two instances on one Redis
// vs a bare GETDEL loop. Servers are bench/scale-server.ts children, the load comes from
// bench/scale-clients.ts children.
import { heapRow, OPEN_CONCURRENCY, PER_USER } from './scale-heap.js';
import { ClientChild } from './scale-processes.js';
import type { HeapRow, ScaleResult, ThroughputKey } from './scale-report.js';
import { CONCURRENCY, throughputRows } from './scale-throughput.js';

export interface ScalePlan {
  quick: boolean;
  /** Timed runs of each throughput row. */
  runs: number;
}

/**
 * Sockets a server child is asked to hold: its open-file limit is 20,000 here, of which it needs
 * about 25 for itself, one per HTTP connection the clients fetch tickets on (up to 52 at once) and
 * one per hook request. Closer to the limit, the kernel's accept fails now and then (EMFILE).
 */
const FULL_SOCKETS = 19_850;

const HEAP_ROWS: Array<Pick<HeapRow, 'variant' | 'label'>> = [
  { variant: 'io-bare', label: '(a) Socket.IO, bare gateway (`IoAdapter`)' },
  { variant: 'io-ticket', label: '(b) Socket.IO, `WsTicketIoAdapter`' },
  { variant: 'ws-bare', label: '(c) raw ws, bare gateway (`WsAdapter`)' },
  { variant: 'ws-ticket', label: '(d) raw ws, `WsTicketWsAdapter`' },
];

/** The phase: the heap rows one server at a time, then the throughput rows (Redis permitting). */
export async function scalePhase(
  redisUrl: string | undefined,
  plan: ScalePlan,
  flags: string[],
  redisSkip: string | undefined,
  log: (line: string) => void,
): Promise<ScaleResult> {
  const target = plan.quick ? 2000 : FULL_SOCKETS;
  const counts: Record<ThroughputKey, number> = plan.quick
    ? { 'getdel-1': 20_000, 'getdel-2': 20_000, consume: 4000, handshake: 1000 }
    : { 'getdel-1': 200_000, 'getdel-2': 200_000, consume: 20_000, handshake: 4000 };
  const labels: Record<ThroughputKey, string> = {
    'getdel-1': 'Bare `GETDEL` loop, one client process',
    'getdel-2': 'Bare `GETDEL` loop, two client processes',
    consume: 'Two instances, `WsTicketService.consume()` in process',
    handshake: 'Two instances, Socket.IO handshakes',
  };
  const result: ScaleResult = {
    clients: plan.quick ? 2 : 4,
    openConcurrency: OPEN_CONCURRENCY,
    warmup: plan.quick ? 400 : 2000,
    perUser: PER_USER,
    heap: HEAP_ROWS.map((row) => ({
      ...row,
      target,
      reached: 0,
      failed: 0,
      retried: 0,
      openSeconds: 0,
    })),
    concurrency: CONCURRENCY,
    throughput: (Object.keys(labels) as ThroughputKey[]).map((key) => ({
      key,
      label: labels[key],
      count: counts[key],
      runs: [],
      skipped: redisUrl ? undefined : redisSkip,
    })),
  };
  const clients = await Promise.all(
    Array.from({ length: result.clients }, (_, i) => ClientChild.start(i)),
  );
  try {
    for (const row of result.heap) await heapRow(row, clients, result.warmup, flags, log);
    if (redisUrl) await throughputRows(result.throughput, redisUrl, clients, plan.runs, flags, log);
  } finally {
    await Promise.all(clients.map((client) => client.stop()));
  }
  return result;
}
