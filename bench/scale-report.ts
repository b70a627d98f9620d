// What the scale phase (bench/scale.ts) measured, and how bench/RESULTS.md shows it: the section's
// body and its setting line.

import { spread, table, withSpread } from './report.js';
import type { ScaleStats, ScaleVariant } from './scale-wire.js';

/** One server child holding sockets: its readings after forced full GCs. */
export interface HeapRow {
  variant: ScaleVariant;
  label: string;
  /** Sockets asked for, and open on the server at the `held` reading. */
  target: number;
  reached: number;
  /** After the warm-up (every socket closed), before the sockets are opened. */
  zero?: ScaleStats;
  held?: ScaleStats;
  /** Once every socket closed again. */
  after?: ScaleStats;
  /** Sockets that failed twice, and that failed once then opened, with the first reason. */
  failed: number;
  retried: number;
  firstError?: string;
  /** Seconds to open the sockets, tickets fetched on the way (all client children at once). */
  openSeconds: number;
  /** Set when the row could not be measured. */
  error?: string;
}

export type ThroughputKey = 'getdel-1' | 'getdel-2' | 'consume' | 'handshake';

/** One timed run of a throughput row. */
export interface ThroughputRun {
  /** Tickets (keys) taken per second over the run's wall time. */
  rate: number;
  /** redis-server CPU (user + system) per ticket, microseconds, and its share of one core. */
  redisCpu: number;
  redisCore: number;
  /** Node CPU per ticket, microseconds: the app instances' (or the loop's) and the clients'. */
  nodeCpu: number;
  clientCpu: number;
  /** Redis commands per ticket (INFO commandstats, INFO itself left out), by name. */
  commands: Record<string, number>;
}

export interface ThroughputRow {
  key: ThroughputKey;
  label: string;
  /** Tickets per run. */
  count: number;
  runs: ThroughputRun[];
  skipped?: string;
}

export interface ScaleResult {
  /** Client child processes holding the sockets, and the handshakes each has in flight. */
  clients: number;
  openConcurrency: number;
  /** Sockets opened and closed on each server before its zero reading. */
  warmup: number;
  /** Sockets per user with tickets (below the default cap of 50 and issuance limit of 60/min). */
  perUser: number;
  heap: HeapRow[];
  /** In flight at once, over all processes. */
  concurrency: number;
  throughput: ThroughputRow[];
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const kib = (bytes: number) => (bytes / 1024).toFixed(2);

/** Heap / RSS / ref'd timers per socket of a row, or undefined if not measured. */
export function perSocket(row: HeapRow) {
  if (!row.zero || !row.held || row.reached === 0) return undefined;
  const timers = (s: ScaleStats) => s.resources.Timeout ?? 0;
  return {
    heap: (row.held.heapUsed - row.zero.heapUsed) / row.reached,
    rss: (row.held.rss - row.zero.rss) / row.reached,
    external: (row.held.external - row.zero.external) / row.reached,
    timers: (timers(row.held) - timers(row.zero)) / row.reached,
  };
}

function overhead(result: ScaleResult, bare: ScaleVariant, ticket: ScaleVariant) {
  const [a, b] = [bare, ticket].map((v) => result.heap.find((r) => r.variant === v));
  const pa = a && perSocket(a);
  const pb = b && perSocket(b);
  return pa && pb ? { heap: pb.heap - pa.heap, rss: pb.rss - pa.rss } : undefined;
}

export function scaleSetting(result: ScaleResult): string {
  const target = result.heap[0]?.target ?? 0;
  const counts = result.throughput.map((r) => `${r.key} ${r.count.toLocaleString('en-US')}`);
  return (
    `Scale: ${target.toLocaleString('en-US')} sockets held per server child (one variant at a ` +
    `time) from ${result.clients} client children, after a warm-up of ${result.warmup}; tickets ` +
    `per run: ${counts.join(', ')}, ${result.concurrency} in flight`
  );
}

export function scaleSection(result: ScaleResult): string[] {
  const out: string[] = [];
  const target = result.heap[0]?.target ?? 0;
  out.push(
    '### Memory per held socket',
    '',
    'One server child per variant, run one after another, each holding sockets opened by ' +
      `${result.clients} client child processes (each process may open 20,000 files here, the ` +
      'server too: it is asked for a little under that). Socket.IO clients are socket.io-client ' +
      'over WebSocket on `/chat`; raw clients are `ws` on `/chat`. With the module (every option at ' +
      'its default: memory store, a session-end timer per socket, `maxConnectionsPerUser` 50) each ' +
      'socket fetches a real ticket with a JWT (`POST /auth/ws-ticket`, valid one hour) right ' +
      `before its handshake (${result.openConcurrency} at a time over all clients; a ticket ` +
      'lives 30 s; a socket that fails is tried once more, with a new ticket); ' +
      `${result.perUser} sockets per user, so neither the cap nor ` +
      'the issuance limit (60 a minute) is reached. Each server first opens and closes ' +
      `${result.warmup} sockets the same way, then is read at 0 sockets and at N, each time ` +
      'after forced full GCs (`--expose-gc`) until the heap stops shrinking. Per socket = ' +
      '(reading at N − reading at 0) / N. Timers: `Timeout` entries of ' +
      "`process.getActiveResourcesInfo()` (ref'd timers). Files: the server's `/proc/self/fd`. " +
      '"After" is the heap once every ' +
      'socket closed again, over the 0 reading.',
    '',
  );
  const rows = result.heap.map((row) => {
    const p = perSocket(row);
    const reached =
      row.reached === target ? `${row.reached}` : `**${row.reached}** of ${row.target}`;
    if (!p || !row.zero || !row.held) {
      return [
        row.label,
        reached,
        `NOT MEASURED: ${row.error ?? 'no reading'}`,
        '',
        '',
        '',
        '',
        '',
        '',
      ];
    }
    const after = row.after ? `${mib(row.after.heapUsed - row.zero.heapUsed)} MB` : '—';
    return [
      row.label,
      reached,
      `${mib(row.zero.heapUsed)} → ${mib(row.held.heapUsed)} MB`,
      kib(p.heap),
      `${mib(row.zero.rss)} → ${mib(row.held.rss)} MB`,
      kib(p.rss),
      p.timers.toFixed(2),
      `${row.held.files ?? '—'}`,
      after,
    ];
  });
  out.push(
    table(
      [
        'Server',
        'Sockets',
        'Heap 0 → N',
        'Heap KiB/socket',
        'RSS 0 → N',
        'RSS KiB/socket',
        'Timers/socket',
        'Files open at N',
        'Heap after close',
      ],
      rows,
    ),
    '',
  );
  const io = overhead(result, 'io-bare', 'io-ticket');
  const ws = overhead(result, 'ws-bare', 'ws-ticket');
  const said = (o: typeof io) =>
    o ? `${kib(o.heap)} KiB heap, ${kib(o.rss)} KiB RSS per socket` : 'not measured';
  out.push(
    `The module's own per-socket state: Socket.IO ${said(io)}; raw ws ${said(ws)} (ticket ` +
      'variant − bare variant).',
    '',
  );
  const rough = result.heap.filter((r) => r.failed || r.retried || r.reached < r.target);
  for (const row of rough) {
    out.push(
      `${row.label}: ${row.reached} of ${row.target} sockets open on the server; ${row.failed} ` +
        `failed twice, ${row.retried} opened on a second try` +
        `${row.firstError ? ` (first error: ${row.firstError})` : ''}.`,
      '',
    );
  }
  out.push(...throughputSection(result));
  return out;
}

/**
 * The commands `RedisTicketStore` sends itself; INFO commandstats also counts the ones its Lua
 * scripts call, listed apart.
 */
const SENT = new Set(['set', 'get', 'getdel', 'eval', 'evalsha', 'smembers', 'srem', 'del']);

function commandList(commands: Record<string, number>): string {
  const list = (names: string[]) =>
    names
      .sort((x, y) => commands[y] - commands[x] || x.localeCompare(y))
      .map((name) => `${name} ${commands[name].toFixed(2)}`)
      .join(', ');
  const names = Object.keys(commands);
  const sent = names.filter((name) => SENT.has(name));
  const scripted = names.filter((name) => !SENT.has(name));
  return list(sent) + (scripted.length ? ` (in the scripts: ${list(scripted)})` : '');
}

function throughputSection(result: ScaleResult): string[] {
  const out: string[] = [];
  out.push(
    '### Tickets consumed per second: two instances on one Redis vs a bare GETDEL loop',
    '',
    "One redis-server 7 (the bench's). **Bare loop**: node-redis clients in client child " +
      'processes take pre-SET ticket-shaped keys (ticket record JSON, `PX`) with `GETDEL`, ' +
      `${result.concurrency} in flight in all (node-redis pipelines what is issued in one tick). ` +
      '**Two instances**: two Socket.IO server children with `RedisTicketStore({ url })` on that ' +
      'Redis (module defaults otherwise). *In-process*: each instance issues its share of ' +
      'tickets (untimed), then both consume them at once through `WsTicketService.consume()`, ' +
      `${result.concurrency / 2} in flight each. *Handshakes*: two client children fetch tickets ` +
      `(untimed), one from each instance, then open Socket.IO connections with them, ` +
      `${result.concurrency / 2} in flight each, each closed at \`connect\` (the cap's slot ` +
      'given back with its close). Rate = tickets / wall time from the first start to the last ' +
      "end. Redis CPU is `INFO cpu` around the run; Node CPU is the instances' (or the loop's) " +
      "process CPU time, client CPU the handshake clients'. On this 2-core machine, 100% is one " +
      'core.',
    '',
  );
  const getdel = result.throughput.find((r) => r.key === 'getdel-1');
  const base = getdel?.runs.length ? spread(getdel.runs.map((r) => r.rate)).median : undefined;
  const f0 = (n: number) => n.toFixed(0);
  const f1 = (n: number) => n.toFixed(1);
  const rows = result.throughput.map((row) => {
    if (row.skipped || row.runs.length === 0) {
      return [row.label, `SKIPPED: ${row.skipped ?? 'no run'}`, '', '', '', '', '', ''];
    }
    const s = (pick: (r: ThroughputRun) => number) => spread(row.runs.map(pick));
    const rate = s((r) => r.rate);
    const commands = commandList(row.runs[row.runs.length - 1].commands);
    return [
      row.label,
      withSpread(rate, f0),
      base ? `${(rate.median / base).toFixed(3)}×` : '—',
      withSpread(
        s((r) => r.redisCpu),
        f1,
      ),
      `${f0(s((r) => r.redisCore).median)}%`,
      withSpread(
        s((r) => r.nodeCpu),
        f1,
      ),
      row.key === 'handshake'
        ? withSpread(
            s((r) => r.clientCpu),
            f1,
          )
        : '—',
      commands,
    ];
  });
  out.push(
    table(
      [
        'Consumer',
        'Tickets/s',
        '× bare loop',
        'Redis CPU µs/ticket',
        'Redis core',
        'Node CPU µs/ticket',
        'Client CPU µs/ticket',
        'Redis commands/ticket',
      ],
      rows,
    ),
    '',
  );
  return out;
}
