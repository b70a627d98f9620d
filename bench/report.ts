import { spawnSync } from 'node:child_process';
import os from 'node:os';
import type { FloodOutcome } from './flood.js';
import type { FramesOutcome } from './frames.js';

/** Median of several runs, with the spread. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}

/** Nearest-rank percentile of unsorted samples (`p` in 0..1). */
export function percentile(samples: ArrayLike<number>, p: number): number {
  const sorted = Float64Array.from(samples).sort();
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
}

/** One timed connection run. */
export interface ConnectRun {
  /** Connections per second. */
  rate: number;
  /** Handshake latency, milliseconds. */
  p50: number;
  p99: number;
  /** Server CPU (user + system) per connection, microseconds. */
  cpuPerConnect: number;
}

export type VariantKey = 'a' | 'b' | 'c' | 'd';

export interface ConnectRow {
  key: VariantKey;
  label: string;
  /** `handshake`: credentials obtained before the clock starts; `e2e`: fetch ticket, then connect. */
  mode: 'handshake' | 'e2e';
  concurrency: number;
  runs: ConnectRun[];
  skipped?: string;
}

/** One autocannon run. */
export interface IssueRun {
  rps: number;
  p50: number;
  p99: number;
}

export interface IssueRow {
  key: 'bare' | 'memory' | 'redis';
  label: string;
  runs: IssueRun[];
  skipped?: string;
}

export interface HeapRound {
  /** Heap (after GC) while every ticket of the round is held, bytes. */
  held: number;
  heldTickets: number;
  /** Heap (after GC) once they expired and were swept, bytes. */
  after: number;
  afterTickets: number;
}

export interface HeapResult {
  tickets: number;
  ttl: number;
  sweepInterval: number;
  /** Heap (after GC) before the first round, bytes. */
  before: number;
  rounds: HeapRound[];
}

export interface RedisTrips {
  consumes: number;
  /** Commands clients sent Redis while those handshakes ran and closed, by name (MONITOR). */
  commands: Record<string, number>;
  perConsume: number;
  skipped?: string;
}

/** One shape of the unauthenticated flood, against a fresh server child. */
export interface FloodRow {
  shape: 'junk' | 'uuid';
  /** What the attacker sends, for the table. */
  label: string;
  /** Refused handshakes the shape aims for. */
  planned: number;
  /** Connections the attacker keeps open at once, one handshake in flight on each. */
  lanes: number;
  /** Heap (after forced full GCs) before the flood, bytes. */
  before?: number;
  /** … after it, the attacker's transports that the server did not close still open. */
  open?: number;
  /** … after the attacker closed them. */
  closed?: number;
  /** The attacker's transports open at the `open` reading. */
  openTransports?: number;
  outcome?: FloodOutcome;
  /** Set when the shape could not be measured (the server died, a hook failed …). */
  error?: string;
}

export interface FloodResult {
  /** The server child's `--max-old-space-size`, MB. */
  maxOldSpaceMb: number;
  /** Per shape, milliseconds. */
  timeLimit: number;
  /** The size of a junk ticket, characters. */
  junkBytes: number;
  rows: FloodRow[];
}

/** The heap growth a flood may leave behind, bytes. */
export const FLOOD_TARGET = 2 * 2 ** 20;

/** The flood's growth of a row: after (open) − before, the attacker still connected. */
export function floodDelta(row: FloodRow): number | undefined {
  return row.before === undefined || row.open === undefined ? undefined : row.open - row.before;
}

/** Server memory after forced full GCs, bytes. */
export interface MemoryReading {
  heap: number;
  rss: number;
}

/** Authenticated raw WebSocket clients sending messages over the server's cap. */
export interface FramesResult {
  /** Clients, each sending one message. */
  sockets: number;
  /** Size of each message, bytes. */
  bytes: number;
  /** The server's cap (`WsTicketWsAdapter`'s default `maxPayload`), bytes. */
  maxPayload: number;
  before?: MemoryReading;
  after?: MemoryReading;
  /** Highest RSS sampled in the server while the round ran, bytes. */
  peakRss?: number;
  outcome?: FramesOutcome;
  /** Whether a new ticket and socket were admitted after the round. */
  servedAfter?: boolean;
  /** Set when the row could not be measured (the server died, a hook failed …). */
  error?: string;
}

/** The growth the oversized messages may leave behind, after forced full GCs, bytes. */
export const FRAMES_TARGET = { heap: 2 * 2 ** 20, rss: 5 * 2 ** 20 };

/** One HS256 `JwtService.verify` in the bench process, microseconds. */
export interface VerifyCost {
  stringSecret: number;
  keyObject: number;
}

export interface Target {
  name: string;
  /** The measured figure, as text. */
  value: string;
  /** undefined: not measured (skipped). */
  met: boolean | undefined;
}

export interface BenchResults {
  settings: string[];
  connect: ConnectRow[];
  issue: IssueRow[];
  verify: VerifyCost;
  heap?: HeapResult;
  redis: RedisTrips;
  flood?: FloodResult;
  frames?: FramesResult;
  /** The body of the session refresh section, as bench/refresh-report.ts renders it. */
  refresh?: string[];
  /** The body of the connection cap section, as bench/cap-report.ts renders it. */
  cap?: string[];
  /** The body of the bearer key section, as bench/jwks-report.ts renders it. */
  jwks?: string[];
  /** The body of the telemetry section, as bench/telemetry-report.ts renders it. */
  telemetry?: string[];
  /** The body of the scale section, as bench/scale-report.ts renders it. */
  scale?: string[];
  /** The body of the rooms section, as bench/rooms-report.ts renders it. */
  rooms?: string[];
  targets: Target[];
  notes: string[];
  seconds: number;
}

const f0 = (n: number) => n.toFixed(0);
const f2 = (n: number) => n.toFixed(2);
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(2);
/** `median (min–max)`, each formatted by `fmt`. */
export const withSpread = (s: Spread, fmt: (n: number) => string) =>
  `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;

function row(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

/** A Markdown table. */
export function table(head: string[], rows: string[][]): string {
  return [row(head), row(head.map(() => '---')), ...rows.map(row)].join('\n');
}

/** Median of a figure of a row, or undefined when the row was skipped. */
export function medianOf<T>(runs: T[], pick: (run: T) => number): number | undefined {
  return runs.length ? spread(runs.map(pick)).median : undefined;
}

export function machine(): string[] {
  const cpus = os.cpus();
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  return [
    `CPU: ${cpus[0]?.model ?? 'unknown'}, ${cpus.length} cores (os.cpus())`,
    `Memory: ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    `OS: ${os.type()} ${os.release()} ${os.arch()}`,
    `Node: ${process.version}`,
    `Commit: ${commit.status === 0 ? commit.stdout.trim() : 'unknown'}`,
    `Date: ${new Date().toISOString()}`,
  ];
}

function targetTable(targets: Target[]): string {
  return table(
    ['Target', 'Measured', 'Result'],
    targets.map((t) => [
      t.name,
      t.value,
      t.met === undefined ? 'SKIPPED' : t.met ? 'met' : '**MISSED**',
    ]),
  );
}

export function renderMarkdown(results: BenchResults): string {
  const out: string[] = [];
  out.push('# nestjs-ws-ticket benchmark results', '');
  out.push(
    'Generated by `npm run bench` (bench/run.ts). Every figure is the median of the runs, with ' +
      'min–max in parentheses; ratios are of medians. Servers run as separate Node processes, ' +
      'the client load runs in the bench process, all on the one machine below, so absolute ' +
      'figures are of this machine only: the ratios are the point.',
    '',
  );
  out.push('## Machine', '', ...machine().map((line) => `- ${line}`), '');
  out.push('## Settings', '', ...results.settings.map((line) => `- ${line}`), '');

  out.push('## Targets', '', targetTable(results.targets), '');

  out.push('## 1. Connection rate and handshake latency', '');
  out.push(
    "socket.io-client 4.8.3, `transports: ['websocket']`, `forceNew`, no reconnection, to a " +
      'gateway on `/chat`; each socket is closed once `connect` fires. Latency is `io()` → ' +
      '`connect`. "Server CPU" is the server process\'s user+system CPU time per connection ' +
      '(accept, handshake and close), read from the server between runs: it does not depend on ' +
      'how fast the client is.',
    '',
  );
  const base = (concurrency: number) =>
    results.connect.find(
      (r) => r.key === 'a' && r.mode === 'handshake' && r.concurrency === concurrency,
    );
  const connectRows: string[][] = [];
  for (const r of results.connect) {
    const label = `${r.label}${r.mode === 'e2e' ? ' — fetch ticket + connect' : ''}`;
    if (r.skipped || r.runs.length === 0) {
      connectRows.push([
        label,
        String(r.concurrency),
        `SKIPPED: ${r.skipped}`,
        '',
        '',
        '',
        '',
        '',
        '',
      ]);
      continue;
    }
    const a = base(r.concurrency);
    const rate = spread(r.runs.map((x) => x.rate));
    const p50 = spread(r.runs.map((x) => x.p50));
    const p99 = spread(r.runs.map((x) => x.p99));
    const cpu = spread(r.runs.map((x) => x.cpuPerConnect));
    const aRate = a && medianOf(a.runs, (x) => x.rate);
    const aP99 = a && medianOf(a.runs, (x) => x.p99);
    const aCpu = a && medianOf(a.runs, (x) => x.cpuPerConnect);
    connectRows.push([
      label,
      String(r.concurrency),
      withSpread(rate, f0),
      aRate ? `${f2(rate.median / aRate)}×` : '',
      withSpread(p50, f2),
      withSpread(p99, f2),
      aP99 ? `${f2(p99.median / aP99)}×` : '',
      withSpread(cpu, f0),
      aCpu ? `${f2(cpu.median / aCpu)}×` : '',
    ]);
  }
  out.push(
    table(
      [
        'Variant',
        'Conc.',
        'Connects/s',
        '× (a)',
        'p50 ms',
        'p99 ms',
        'p99 × (a)',
        'Server CPU µs/conn',
        'CPU × (a)',
      ],
      connectRows,
    ),
    '',
  );

  out.push('## 2. Ticket issuance throughput', '');
  out.push(
    'autocannon (programmatic), `POST` with an HS256 bearer JWT, the users taking turns. The ' +
      'bare route is a Nest controller behind the usual JWT guard (`JwtModule.register({ secret ' +
      '})`, `JwtService.verifyAsync`) returning a constant of the same shape, mounted in the same ' +
      'server process as the memory-store ticket endpoint.',
    '',
  );
  const bare = results.issue.find((r) => r.key === 'bare');
  const bareRps = bare && medianOf(bare.runs, (x) => x.rps);
  out.push(
    table(
      ['Route', 'Requests/s', '× bare route', 'p50 ms', 'p99 ms'],
      results.issue.map((r) => {
        if (r.skipped || r.runs.length === 0) return [r.label, `SKIPPED: ${r.skipped}`, '', '', ''];
        const rps = spread(r.runs.map((x) => x.rps));
        return [
          r.label,
          withSpread(rps, f0),
          bareRps ? `${f2(rps.median / bareRps)}×` : '',
          withSpread(spread(r.runs.map((x) => x.p50)), f2),
          withSpread(spread(r.runs.map((x) => x.p99)), f2),
        ];
      }),
    ),
    '',
  );

  const v = results.verify;
  out.push(
    `Both routes spend most of their time verifying the JWT. One HS256 \`JwtService.verify\` ` +
      `takes ${f0(v.stringSecret)} µs on this machine with the secret passed as a string (as ` +
      `here, and as most apps do), ${f0(v.keyObject)} µs with a \`KeyObject\` ` +
      '(`crypto.createSecretKey`): jsonwebtoken 9 first tries a string or Buffer key as a PEM ' +
      'public key, an OpenSSL decoder run on every call.',
    '',
  );

  out.push('## 3. Memory after expired tickets', '');
  if (results.heap) {
    const h = results.heap;
    out.push(
      `A server started with \`--expose-gc\`, \`ttl: ${h.ttl}\` s and ` +
        `\`new MemoryTicketStore({ sweepInterval: ${h.sweepInterval} })\`. Each round issues ` +
        `${h.tickets.toLocaleString('en-US')} tickets through \`WsTicketService.issue()\` (a ` +
        'bench-only hook in the server: over HTTP they would expire before the last one was ' +
        'issued), spread over the bench users, reads the heap while all are held, waits for them ' +
        'to expire and be swept, and reads the heap again. The per-user issuance counters get a ' +
        `window of ${h.ttl} s too, so they are gone by then as well. Every reading follows forced ` +
        'full GCs.',
      '',
    );
    const deltas = spread(h.rounds.map((r) => r.after - h.before));
    out.push(
      table(
        [
          'Heap before',
          'Heap with tickets held',
          'Tickets held',
          'Heap after expiry',
          'Tickets left',
          'After − before',
        ],
        [
          ...h.rounds.map((r, i) => [
            i === 0 ? `${mb(h.before)} MB` : '',
            `${mb(r.held)} MB`,
            r.heldTickets.toLocaleString('en-US'),
            `${mb(r.after)} MB`,
            String(r.afterTickets),
            `${mb(r.after - h.before)} MB`,
          ]),
          [
            '',
            '',
            '',
            '',
            '**median**',
            `**${mb(deltas.median)} MB** (${mb(deltas.min)}–${mb(deltas.max)})`,
          ],
        ],
      ),
      '',
    );
  } else {
    out.push('SKIPPED', '');
  }

  out.push('## 4. Redis round trips per connection', '');
  const t = results.redis;
  if (t.skipped) {
    out.push(`SKIPPED: ${t.skipped}`, '');
  } else {
    out.push(
      `${t.consumes} ticket handshakes against (d), each socket closed after it connected, ` +
        'counted with `MONITOR`: what clients sent, not the commands a script ran inside Redis.',
      '',
      table(
        ['Handshakes', 'Commands', 'Per connection'],
        [
          [
            String(t.consumes),
            Object.entries(t.commands)
              .map(([name, calls]) => `${name} × ${calls}`)
              .join(', ') || 'none',
            f2(t.perConsume),
          ],
        ],
      ),
      '',
    );
  }

  out.push('## 5. Unauthenticated flood', '');
  out.push(...(results.flood ? floodSection(results.flood) : ['SKIPPED', '']));

  out.push('## 6. Oversized raw WebSocket messages', '');
  out.push(...(results.frames ? framesSection(results.frames) : ['SKIPPED', '']));

  out.push('## 7. Session refresh vs handshake', '');
  out.push(...(results.refresh ?? ['SKIPPED', '']));

  out.push('## 8. Connection cap: handshake rate on vs off', '');
  out.push(...(results.cap ?? ['SKIPPED', '']));

  out.push('## 9. Bearer keys: HS256 vs a cached JWKS key', '');
  out.push(...(results.jwks ?? ['SKIPPED', '']));

  out.push('## 10. Telemetry: handshake rate with subscribers vs none', '');
  out.push(...(results.telemetry ?? ['SKIPPED', '']));

  out.push('## 11. Scale: memory per held socket, tickets consumed per second', '');
  out.push(...(results.scale ?? ['SKIPPED', '']));

  out.push('## 12. Rooms: authorized joins, fan-out to one room, room state in memory', '');
  out.push(...(results.rooms ?? ['SKIPPED', '']));

  if (results.notes.length) out.push('## Notes', '', ...results.notes.map((n) => `- ${n}`), '');
  out.push(`Bench wall time: ${results.seconds.toFixed(0)} s.`, '');
  return out.join('\n');
}

const signedMb = (bytes: number) => `${bytes < 0 ? '−' : '+'}${mb(Math.abs(bytes))} MB`;

/** The body of the flood section: what was done, the table, the details of every shape. */
export function floodSection(flood: FloodResult): string[] {
  const out: string[] = [];
  out.push(
    'How much server heap an attacker without a ticket leaves behind. Each shape runs against a ' +
      'fresh memory-store server child (`WsTicketIoAdapter`, the gateway on `/chat`, module ' +
      `defaults, \`--expose-gc\`, \`--max-old-space-size=${flood.maxOldSpaceMb}\`). The attacker ` +
      'runs in the bench process and speaks raw Engine.IO over `ws` ' +
      '(`/socket.io/?EIO=4&transport=websocket`): after the open packet it sends namespace ' +
      'CONNECT packets (`40/chat,{"uuid":…}`) and waits for each refusal (`44/chat,…`) before ' +
      'the next, answers pings, and opens a new transport whenever the server closes one, until ' +
      `the handshakes were refused or ${flood.timeLimit / 1000} s passed. The heap is read after ` +
      'forced full GCs: before the flood (after a small warm-up flood of the same shape, its ' +
      "transports closed), after it with the attacker's transports still open, and after the " +
      'attacker closed them. Rate: refused handshakes per second of flood.',
    '',
    `Target: the heap after the flood, the attacker still connected, within ` +
      `${mb(FLOOD_TARGET).replace(/\.00$/, '')} MB of the heap before it (Δ = after (open) − before; ` +
      'after (closed) − before in parentheses).',
    '',
  );
  const heap = (bytes?: number) => (bytes === undefined ? '—' : `${mb(bytes)} MB`);
  out.push(
    table(
      ['Shape', 'Handshakes', 'Heap before', 'After (open)', 'After (closed)', 'Δ', 'Rate'],
      flood.rows.map((r) => {
        const o = r.outcome;
        const delta = floodDelta(r);
        const closed =
          r.before === undefined || r.closed === undefined
            ? ''
            : ` (${signedMb(r.closed - r.before)})`;
        const status = r.error ?? (o && o.status !== 'complete' ? o.status : undefined);
        return [
          r.label,
          `${(o?.refused ?? 0).toLocaleString('en-US')} of ${r.planned.toLocaleString('en-US')}` +
            (status ? ` — **${status}**` : ''),
          heap(r.before),
          heap(r.open),
          heap(r.closed),
          delta === undefined ? '—' : `**${signedMb(delta)}**${closed}`,
          o && o.elapsed > 0
            ? `${f0(o.refused / (o.elapsed / 1000))}/s (${(o.elapsed / 1000).toFixed(1)} s)`
            : '—',
        ];
      }),
    ),
    '',
  );
  for (const r of flood.rows) {
    const o = r.outcome;
    const parts: string[] = [];
    if (o) {
      const codes = Object.entries(o.codes)
        .map(([code, n]) => `${code} × ${n.toLocaleString('en-US')}`)
        .join(', ');
      parts.push(
        `${r.lanes} connection${r.lanes === 1 ? '' : 's'} at a time, one handshake in flight on each`,
        `${o.opened} transport${o.opened === 1 ? '' : 's'} opened, ${o.closedByServer} closed by ` +
          `the server, ${r.openTransports ?? '?'} still open at the "after (open)" reading`,
        `refusals: ${codes || 'none'}`,
      );
      if (o.unanswered) parts.push(`${o.unanswered} sent but never answered`);
      if (o.accepted) parts.push(`**${o.accepted} handshakes ACCEPTED**`);
      if (o.reason && o.status !== 'server died') parts.push(o.reason);
    }
    if (r.error) parts.push(`**${r.error}**`);
    out.push(`- ${r.label}: ${parts.join('; ')}.`);
  }
  out.push('');
  return out;
}

/** The body of the oversized-messages section: what was done, the table. */
export function framesSection(frames: FramesResult): string[] {
  const size = (bytes: number) =>
    bytes % 2 ** 20 === 0 ? `${bytes / 2 ** 20} MiB` : `${(bytes / 1024).toFixed(0)} KiB`;
  const out: string[] = [];
  out.push(
    'How much server memory authenticated raw WebSocket clients leave behind when they send ' +
      'messages over the cap. A fresh memory-store server child (`WsTicketWsAdapter` with its ' +
      `defaults, so \`maxPayload\` ${size(frames.maxPayload)}; the gateway on path \`/chat\`; ` +
      '`--expose-gc`). The clients run in the bench process and speak `ws`: each of ' +
      `${frames.sockets} opens with its own ticket (one bench user each) and gets its \`whoami\` ` +
      `answer, then all ${frames.sockets} send one ${size(frames.bytes)} text message at once, and ` +
      'the server must close every socket with 1009. An identical warm-up round (its sockets ' +
      'closed the same way) runs first. Heap and RSS are read after forced full GCs before and ' +
      'after the measured round; after it, a new ticket and socket must still be admitted. The ' +
      'server also samples its RSS every millisecond while the round runs: after GC alone, a ' +
      'server that buffered and parsed such messages would look as clean. The peak is no target: ' +
      'it moves by up to some 20 MB from run to run with how many pages the forced GCs had returned ' +
      'just before, and with the reads of the rest of each message, which `ws` drops while it ' +
      "waits for the client's close frame. What tells a capped server from an uncapped one is " +
      'the close code: an uncapped one keeps the sockets open.',
    '',
    `Target: heap within ${mb(FRAMES_TARGET.heap).replace(/\.00$/, '')} MB and RSS within ` +
      `${mb(FRAMES_TARGET.rss).replace(/\.00$/, '')} MB of before, every socket closed with ` +
      '1009, a new client admitted afterwards.',
    '',
  );
  const { before, after, outcome } = frames;
  const heap = (m: MemoryReading) => m.heap;
  const rss = (m: MemoryReading) => m.rss;
  const reading = (m: MemoryReading | undefined, pick: (m: MemoryReading) => number) =>
    m ? `${mb(pick(m))} MB` : '—';
  const delta = (pick: (m: MemoryReading) => number) =>
    before && after ? `**${signedMb(pick(after) - pick(before))}**` : '—';
  const closes = outcome
    ? Object.entries(outcome.closes)
        .map(([code, n]) => `${code} × ${n}`)
        .join(', ') || 'none'
    : '—';
  const status =
    frames.error ?? (outcome && outcome.status !== 'complete' ? outcome.reason : undefined);
  out.push(
    table(
      [
        'Messages',
        'Closed with',
        'Heap before',
        'Heap after',
        'Δ heap',
        'RSS before',
        'RSS after',
        'Δ RSS',
        'RSS peak (Δ)',
        'Served after',
      ],
      [
        [
          `${outcome?.sent ?? 0} × ${size(frames.bytes)}${status ? ` — **${status}**` : ''}`,
          closes,
          reading(before, heap),
          reading(after, heap),
          delta(heap),
          reading(before, rss),
          reading(after, rss),
          delta(rss),
          before && frames.peakRss !== undefined
            ? `${mb(frames.peakRss)} MB (${signedMb(frames.peakRss - before.rss)})`
            : '—',
          frames.servedAfter === undefined ? '—' : frames.servedAfter ? 'yes' : '**no**',
        ],
      ],
    ),
    '',
  );
  return out;
}

/** The report of an `--only <phase>` run: the machine, the settings, the phase's targets and section. */
export function renderOnly(
  phase: { name: string; title: string; section: string[] },
  settings: string[],
  targets: Target[],
  seconds: number,
): string {
  const out: string[] = [];
  out.push(`# nestjs-ws-ticket benchmark: ${phase.title} only`, '');
  out.push(`\`node dist/bench/run.js --only ${phase.name}\` (not for bench/RESULTS.md).`, '');
  out.push('## Machine', '', ...machine().map((line) => `- ${line}`), '');
  out.push('## Settings', '', ...settings.map((line) => `- ${line}`), '');
  if (targets.length) out.push('## Targets', '', targetTable(targets), '');
  out.push(`## ${phase.title}`, '', ...phase.section);
  out.push(`Bench wall time: ${seconds.toFixed(0)} s.`, '');
  return out.join('\n');
}
