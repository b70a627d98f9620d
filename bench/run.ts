// `npm run bench`: starts the bench servers as child processes, warms them up, measures, prints a
// table and writes bench/RESULTS.md. Flags: --runs N (default 5), --quick (small counts, for a
// smoke run), --no-write (stdout only), --cpu-prof (servers write CPU profiles to bench/profiles),
// --only flood|frames|cap|jwks|telemetry|scale|rooms (the unauthenticated-flood row, the
// oversized-messages row, the connection cap, bearer key, telemetry, scale or rooms section alone,
// printed, never written),
// --flood-max-old-space MB (the flood server child's old-space cap, default 1024).
import { createSecretKey, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { JwtService } from '@nestjs/jwt';
import autocannon from 'autocannon';
import { DEFAULT_WS_MAX_PAYLOAD } from '../lib/index.js';
import {
  hasRedisServer,
  type RedisServerHandle,
  startRedisServer,
} from '../test/support/redis-server.js';
import { capPhase } from './cap.js';
import { type CapResult, capSection, capSetting, capTargets } from './cap-report.js';
import { type ServerChild, startServer, stopAllServers } from './children.js';
import {
  BenchTokens,
  connectOnce,
  fetchTicket,
  fetchTickets,
  pool,
  refusedWith,
  rotate,
  serverStats,
  settle,
  sleep,
  whoami,
} from './client.js';
import { BENCH_SECRET, BENCH_USERS } from './constants.js';
import { startCpuMeter } from './cpu-meter.js';
import { connectFrame, type FloodHandle, type FloodPlan, flood } from './flood.js';
import { admitted, oversizedMessage, sendOversized } from './frames.js';
import { jwksPhase } from './jwks.js';
import { jwksSection, jwksSetting } from './jwks-report.js';
import { countRoundTrips } from './redis-trips.js';
import { refreshPhase } from './refresh.js';
import {
  type RefreshResult,
  refreshSection,
  refreshSetting,
  refreshTargets,
} from './refresh-report.js';
import {
  type BenchResults,
  type ConnectRow,
  type ConnectRun,
  FLOOD_TARGET,
  type FloodResult,
  type FloodRow,
  FRAMES_TARGET,
  type FramesResult,
  floodDelta,
  floodSection,
  framesSection,
  type HeapResult,
  type IssueRow,
  medianOf,
  percentile,
  type RedisTrips,
  renderMarkdown,
  renderOnly,
  spread,
  type Target,
  type VariantKey,
  type VerifyCost,
} from './report.js';
import { roomsPhase } from './rooms.js';
import { type RoomsResult, roomsSection, roomsSetting, roomsTargets } from './rooms-report.js';
import { scalePhase } from './scale.js';
import { scaleSection, scaleSetting } from './scale-report.js';
import { telemetryPhase } from './telemetry.js';
import {
  type TelemetryResult,
  telemetrySection,
  telemetrySetting,
  telemetryTargets,
} from './telemetry-report.js';

const args = process.argv.slice(2);
const option = (name: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const RUNS = Number(option('--runs') ?? 5);
const QUICK = args.includes('--quick');
const WRITE = !args.includes('--no-write');
const CPU_PROF = args.includes('--cpu-prof');
const ONLY = option('--only');
const ONLY_PHASES = ['flood', 'frames', 'cap', 'jwks', 'telemetry', 'scale', 'rooms'] as const;
type OnlyPhase = (typeof ONLY_PHASES)[number];
const isOnlyPhase = (name: string | undefined): name is OnlyPhase =>
  (ONLY_PHASES as readonly (string | undefined)[]).includes(name);
if (ONLY !== undefined && !isOnlyPhase(ONLY)) {
  throw new Error(`--only ${ONLY}: the phases that run alone are ${ONLY_PHASES.join(', ')}`);
}

const CONCURRENCY = [1, 50] as const;
/** Connections per timed run, by concurrency. */
const CONNECTS: Record<number, number> = QUICK ? { 1: 60, 50: 300 } : { 1: 300, 50: 1000 };
const WARMUP_ROUNDS = 1;
const ISSUE_SECONDS = QUICK ? 1 : 2;
/** Slices a run is cut into, the variants taking turns. */
const SLICES = 4;
const ISSUE_CONNECTIONS = 20;
const HEAP = { tickets: QUICK ? 10_000 : 100_000, rounds: 3, ttl: 5, sweepInterval: 250 };
const REDIS_CONSUMES = 200;
/**
 * The unauthenticated flood. The server child's old space is capped, so that a leak kills it (the
 * row then says "server died") rather than the machine: the code before the fix keeps every string
 * ticket of a transport, ~0.9 MB per junk handshake.
 */
const FLOOD = {
  junk: QUICK ? 100 : 600,
  junkBytes: 900 * 1024,
  uuid: QUICK ? 2000 : 20_000,
  uuidLanes: 4,
  warmup: { junk: 10, junkBytes: 1024, uuid: 200 },
  timeLimit: 120_000,
  maxOldSpaceMb: Number(option('--flood-max-old-space') ?? 1024),
};
/**
 * Oversized raw WebSocket messages: authenticated clients, one message each, twice the server's
 * default cap (the issue that set the cap saw three 90 MB messages take a server from 84 to 513 MB).
 */
const FRAMES = { sockets: 20, bytes: 2 * DEFAULT_WS_MAX_PAYLOAD, timeout: 30_000 };
/** Above this share of foreign CPU (percent), the results are flagged as disturbed. */
const NOISY_PERCENT = 5;

const ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));
const PROFILES = join(ROOT, 'bench', 'profiles');

type Servers = Record<VariantKey, ServerChild | undefined>;

const log = (line: string) => console.error(line);

function findRoot(from: string): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('bench: package.json not found above the bench script');
    dir = up;
  }
  return dir;
}

function loud(message: string): void {
  console.error(`\n\u001b[41m\u001b[97m ${message} \u001b[0m\n`);
}

async function sanity(servers: Servers, tokens: BenchTokens): Promise<void> {
  const { a, b, c, d } = servers;
  const jwt = tokens.next();
  await connectOnce(a!.url);
  if ((await refusedWith(b!.url)) === '') throw new Error('(b) accepted a handshake without JWT');
  await connectOnce(b!.url, { token: jwt });
  for (const server of [c, d]) {
    if (!server) continue;
    const code = await refusedWith(server.url, { uuid: '00000000-0000-4000-8000-000000000000' });
    if (!code.includes('ticket_invalid')) throw new Error(`unexpected refusal: ${code}`);
    const user = (await whoami(server.url, { uuid: await fetchTicket(server.url, jwt) })) as {
      sub?: string;
    };
    if (!user?.sub?.startsWith('bench-user-')) {
      throw new Error('the ticket did not resolve a bench user');
    }
  }
}

/**
 * Connections per run of a row, a whole number of slices: the slower fetch-then-connect rows run
 * half as many.
 */
function connectsOf(row: ConnectRow): number {
  const count = CONNECTS[row.concurrency] / (row.mode === 'e2e' ? 2 : 1);
  return Math.ceil(count / SLICES) * SLICES;
}

/**
 * One run of a group of rows (same concurrency, same mode). The rows take turns in short slices,
 * so that the machine's drift (a shared VM's CPU speed can wander by ±15% within seconds) reaches
 * them alike; a row's figures are over all its slices. Before the clock starts: tickets are fetched,
 * every server gets an untimed burst (an idle Node process shrinks its heap and lets its code age,
 * and each server idles while the others run) and then a minor GC, as does the bench process.
 */
async function groupRun(
  servers: Servers,
  rows: ConnectRow[],
  tokens: BenchTokens,
  rep: number,
): Promise<Map<ConnectRow, ConnectRun>> {
  const plans = new Map<
    ConnectRow,
    {
      server: ServerChild;
      count: number;
      burst: number;
      tickets?: string[];
      latencies: Float64Array;
      elapsed: number;
      cpu: number;
    }
  >();
  for (const row of rows) {
    const server = servers[row.key]!;
    const count = connectsOf(row);
    const burst = Math.ceil(count / 5);
    const ticketed = (row.key === 'c' || row.key === 'd') && row.mode === 'handshake';
    const tickets = ticketed ? await fetchTickets(server.url, tokens, burst + count) : undefined;
    plans.set(row, {
      server,
      count,
      burst,
      tickets,
      latencies: new Float64Array(burst + count),
      elapsed: 0,
      cpu: 0,
    });
  }
  const connect = (row: ConnectRow, from: number, n: number) => {
    const plan = plans.get(row)!;
    return pool(n, row.concurrency, async (j) => {
      const i = from + j;
      const start = performance.now();
      let auth: Record<string, string> | undefined;
      if (row.mode === 'e2e') auth = { uuid: await fetchTicket(plan.server.url, tokens.next()) };
      else if (plan.tickets) auth = { uuid: plan.tickets[i] };
      else if (row.key === 'b') auth = { token: tokens.next() };
      const handshake = await connectOnce(plan.server.url, auth);
      plan.latencies[i] = row.mode === 'e2e' ? performance.now() - start : handshake;
    });
  };
  for (const row of rows) await connect(row, 0, plans.get(row)!.burst);
  for (const row of rows) {
    const plan = plans.get(row)!;
    await settle(plan.server.url);
    plan.cpu = -(await serverStats(plan.server.url)).cpu;
  }
  for (let slice = 0; slice < SLICES; slice++) {
    for (const row of rotate(rows, rep + slice)) {
      const plan = plans.get(row)!;
      const size = plan.count / SLICES;
      const started = performance.now();
      await connect(row, plan.burst + slice * size, size);
      plan.elapsed += (performance.now() - started) / 1000;
    }
  }
  await sleep(150); // let the last disconnects land before reading the servers' CPU time
  const runs = new Map<ConnectRow, ConnectRun>();
  for (const row of rows) {
    const plan = plans.get(row)!;
    plan.cpu += (await serverStats(plan.server.url)).cpu;
    const timed = plan.latencies.subarray(plan.burst);
    runs.set(row, {
      rate: plan.count / plan.elapsed,
      p50: percentile(timed, 0.5),
      p99: percentile(timed, 0.99),
      cpuPerConnect: plan.cpu / plan.count,
    });
  }
  return runs;
}

async function connectPhase(servers: Servers, tokens: BenchTokens, redisSkip?: string) {
  const defs: Array<Pick<ConnectRow, 'key' | 'label' | 'mode'>> = [
    { key: 'a', label: '(a) bare gateway, plain IoAdapter', mode: 'handshake' },
    { key: 'b', label: '(b) JWT in `auth`, namespace middleware', mode: 'handshake' },
    { key: 'c', label: '(c) nestjs-ws-ticket, memory store', mode: 'handshake' },
    { key: 'd', label: '(d) nestjs-ws-ticket, Redis store', mode: 'handshake' },
    { key: 'c', label: '(c) nestjs-ws-ticket, memory store', mode: 'e2e' },
    { key: 'd', label: '(d) nestjs-ws-ticket, Redis store', mode: 'e2e' },
  ];
  const rows: ConnectRow[] = CONCURRENCY.flatMap((concurrency) =>
    defs.map((def) => ({
      ...def,
      concurrency,
      runs: [],
      skipped: servers[def.key] ? undefined : redisSkip,
    })),
  );
  const active = rows.filter((r) => !r.skipped);
  const groups = CONCURRENCY.flatMap((concurrency) =>
    (['handshake', 'e2e'] as const).map((mode) =>
      active.filter((r) => r.concurrency === concurrency && r.mode === mode),
    ),
  ).filter((group) => group.length > 0);
  const name = (r: ConnectRow) => `${r.label.slice(0, 3)}${r.mode === 'e2e' ? '+fetch' : ''}`;

  // Untimed runs first: V8 keeps optimizing both ends over the first thousands of connections.
  for (let rep = -WARMUP_ROUNDS; rep < RUNS; rep++) {
    const line: string[] = [];
    for (const group of groups) {
      const runs = await groupRun(servers, group, tokens, rep + WARMUP_ROUNDS);
      for (const [row, run] of runs) {
        if (rep >= 0) row.runs.push(run);
        line.push(`${name(row)}@${row.concurrency} ${run.rate.toFixed(0)}/s`);
      }
    }
    const label =
      rep < 0 ? `warm-up ${rep + WARMUP_ROUNDS + 1}/${WARMUP_ROUNDS}` : `run ${rep + 1}/${RUNS}`;
    log(`connections: ${label}: ${line.join(', ')}`);
  }
  return rows;
}

async function issuePhase(servers: Servers, tokens: BenchTokens, redisSkip?: string) {
  const c = servers.c!;
  const rows: Array<IssueRow & { url?: string }> = [
    {
      key: 'bare',
      label: 'Bare JWT-guarded route (constant)',
      url: `${c.url}/bench/bare`,
      runs: [],
    },
    {
      key: 'memory',
      label: '`POST /auth/ws-ticket`, memory store',
      url: `${c.url}/auth/ws-ticket`,
      runs: [],
    },
    {
      key: 'redis',
      label: '`POST /auth/ws-ticket`, Redis store',
      url: servers.d && `${servers.d.url}/auth/ws-ticket`,
      runs: [],
      skipped: servers.d ? undefined : redisSkip,
    },
  ];
  const active = rows.filter((r) => r.url);
  const shoot = async (url: string, duration: number) => {
    const result = await autocannon({
      url,
      method: 'POST',
      // Each request carries the next user's JWT (the same rotation for every route).
      requests: [
        {
          setupRequest: (request) => ({
            ...request,
            headers: { ...request.headers, authorization: `Bearer ${tokens.next()}` },
          }),
        },
      ],
      connections: ISSUE_CONNECTIONS,
      duration,
    });
    if (result.errors || result.timeouts || result.non2xx) {
      throw new Error(
        `issuance run against ${url}: ${result.errors} errors, ${result.timeouts} timeouts, ` +
          `${result.non2xx} non-2xx (${JSON.stringify(result.statusCodeStats)})`,
      );
    }
    return {
      requests: result.requests.total,
      seconds: result.duration,
      p50: result.latency.p50,
      p99: result.latency.p99,
    };
  };
  log('issuance: warm-up');
  for (const row of active) await shoot(row.url!, 1);
  // Like the connection runs: the routes take turns in short slices, a run is all its slices.
  for (let rep = 0; rep < RUNS; rep++) {
    const slices = new Map(active.map((row) => [row, [] as Awaited<ReturnType<typeof shoot>>[]]));
    for (const row of active) await settle(new URL(row.url!).origin);
    for (let slice = 0; slice < SLICES; slice++) {
      for (const row of rotate(active, rep + slice)) {
        slices.get(row)!.push(await shoot(row.url!, ISSUE_SECONDS / SLICES));
      }
    }
    const line: string[] = [];
    for (const [row, runs] of slices) {
      const requests = runs.reduce((sum, r) => sum + r.requests, 0);
      const seconds = runs.reduce((sum, r) => sum + r.seconds, 0);
      const run = {
        rps: requests / seconds,
        p50: spread(runs.map((r) => r.p50)).median,
        p99: spread(runs.map((r) => r.p99)).median,
      };
      row.runs.push(run);
      line.push(`${row.key} ${run.rps.toFixed(0)}/s`);
    }
    log(`issuance: run ${rep + 1}/${RUNS}: ${line.join(', ')}`);
  }
  return rows.map(({ url: _url, ...row }) => row);
}

/**
 * What one HS256 `JwtService.verify` costs here, with the secret as a string (as most apps pass it)
 * and as a KeyObject: jsonwebtoken tries a string or Buffer as a PEM public key first.
 */
function verifyCost(tokens: BenchTokens): VerifyCost {
  const secret = BENCH_SECRET;
  const measure = (service: JwtService) => {
    const token = tokens.next();
    for (let i = 0; i < 100; i++) service.verify(token, { algorithms: ['HS256'] });
    const n = 500;
    const started = performance.now();
    for (let i = 0; i < n; i++) service.verify(token, { algorithms: ['HS256'] });
    return ((performance.now() - started) * 1000) / n;
  };
  return {
    stringSecret: measure(new JwtService({ secret })),
    keyObject: measure(new JwtService({ secret: createSecretKey(Buffer.from(secret)) })),
  };
}

async function redisPhase(
  d: ServerChild | undefined,
  redis: RedisServerHandle | undefined,
  tokens: BenchTokens,
  redisSkip?: string,
): Promise<RedisTrips> {
  if (!d || !redis) return { consumes: 0, commands: {}, perConsume: 0, skipped: redisSkip };
  const tickets = await fetchTickets(d.url, tokens, REDIS_CONSUMES);
  const commands = await countRoundTrips(redis.port, async () => {
    await pool(REDIS_CONSUMES, 10, async (i) => {
      await connectOnce(d.url, { uuid: tickets[i] });
    });
    // The slots of the last sockets go back once their close reached the server.
    await sleep(300);
  });
  const total = Object.values(commands).reduce((sum, n) => sum + n, 0);
  log(`redis: ${JSON.stringify(commands)} for ${REDIS_CONSUMES} handshakes`);
  return { consumes: REDIS_CONSUMES, commands, perConsume: total / REDIS_CONSUMES };
}

async function heapPhase(flags: string[]): Promise<HeapResult> {
  const { tickets, rounds, ttl, sweepInterval } = HEAP;
  const server = await startServer({ variant: 'heap', ttl, sweepInterval }, flags);
  const hook = (path: string) => serverStats(server.url, `/bench/heap/${path}`);
  const expire = () => sleep(ttl * 1000 + 3 * sweepInterval);
  try {
    log('heap: warm-up');
    for (let i = 0; i < 2; i++) {
      await hook('issue?n=2000');
      await expire();
    }
    const before = (await hook('gc')).heapUsed;
    const result: HeapResult = { tickets, ttl, sweepInterval, before, rounds: [] };
    for (let round = 0; round < rounds; round++) {
      const started = performance.now();
      await hook(`issue?n=${tickets}`);
      const issuedIn = performance.now() - started;
      const held = await hook('gc');
      await expire();
      const after = await hook('gc');
      result.rounds.push({
        held: held.heapUsed,
        heldTickets: held.tickets ?? 0,
        after: after.heapUsed,
        afterTickets: after.tickets ?? 0,
      });
      log(
        `heap: round ${round + 1}/${rounds}: ${tickets} issued in ${issuedIn.toFixed(0)} ms, ` +
          `held ${held.tickets} → ${((held.heapUsed - before) / 2 ** 20).toFixed(1)} MB over ` +
          `baseline; after expiry ${after.tickets} → ${((after.heapUsed - before) / 2 ** 20).toFixed(2)} MB`,
      );
    }
    return result;
  } finally {
    await server.stop();
  }
}

/** The junk ticket of handshake `i`: ~`bytes` characters, each one different (a Map keeps all). */
function junkTicket(i: number, bytes: number): string {
  const head = `junk-${i}-`;
  return head + 'x'.repeat(Math.max(0, bytes - head.length));
}

/**
 * One flood shape against a fresh ticket-memory server child: a small warm-up flood of the same
 * shape (closed), the heap, the flood, the heap with the attacker still connected, the heap after
 * it closed its transports. A server that dies on the way makes the row say so.
 */
async function floodShape(row: FloodRow, flags: string[]): Promise<FloodRow> {
  const ticket = (i: number, junkBytes: number) =>
    row.shape === 'junk' ? junkTicket(i, junkBytes) : randomUUID();
  const plan = (total: number, junkBytes: number, timeLimit: number): FloodPlan => ({
    total,
    lanes: row.lanes,
    frame: (i) => connectFrame(ticket(i, junkBytes)),
    timeLimit,
  });
  const warm = FLOOD.warmup;
  const warmupPlan = plan(row.shape === 'junk' ? warm.junk : warm.uuid, warm.junkBytes, 20_000);
  const floodPlan = plan(row.planned, FLOOD.junkBytes, FLOOD.timeLimit);
  const expected = row.shape === 'junk' ? 'ticket_malformed' : 'ticket_invalid';
  const server = await startServer({ variant: 'ticket-memory', heapHooks: true }, [
    ...flags,
    `--max-old-space-size=${FLOOD.maxOldSpaceMb}`,
  ]);
  const gc = async () => (await serverStats(server.url, '/bench/heap/gc')).heapUsed;
  const died = async (error: unknown) => {
    if (server.alive()) await Promise.race([server.exited, sleep(1000)]);
    if (server.alive()) return error instanceof Error ? error.message : String(error);
    const { code, signal } = await server.exited;
    return `server died (${signal ?? `exit code ${code}`})`;
  };
  let attack: FloodHandle | undefined;
  try {
    const warmup = await flood(server, warmupPlan);
    await warmup.close();
    const w = warmup.outcome;
    if (w.status !== 'complete' || w.accepted || !w.codes[expected]) {
      throw new Error(
        `flood warm-up (${row.shape}): ${w.status}${w.reason ? ` (${w.reason})` : ''}, ` +
          `${w.accepted} accepted, refusals ${JSON.stringify(w.codes)}`,
      );
    }
    await sleep(200);
    row.before = await gc();
    attack = await flood(server, floodPlan);
    const o = attack.outcome;
    row.outcome = o;
    row.openTransports = attack.open();
    log(
      `flood ${row.shape}: ${o.status}${o.reason ? ` (${o.reason})` : ''}: ${o.refused} refused ` +
        `in ${(o.elapsed / 1000).toFixed(1)} s, ${o.opened} transports (${o.closedByServer} ` +
        `closed by the server, ${row.openTransports} open), refusals ${JSON.stringify(o.codes)}`,
    );
    if (o.status === 'server died') throw new Error(o.reason);
    row.open = await gc();
    await attack.close();
    await sleep(300); // let the server see the closes
    row.closed = await gc();
    log(
      `flood ${row.shape}: heap before ${(row.before / 2 ** 20).toFixed(1)} MB, open ` +
        `${(row.open / 2 ** 20).toFixed(1)} MB, closed ${(row.closed / 2 ** 20).toFixed(1)} MB`,
    );
  } catch (error) {
    row.error = await died(error);
    log(`flood ${row.shape}: ${row.error}`);
  } finally {
    await attack?.close();
    await server.stop();
  }
  return row;
}

async function floodPhase(flags: string[]): Promise<FloodResult> {
  const rows: FloodRow[] = [
    {
      shape: 'junk',
      label: `Junk: ${(FLOOD.junkBytes / 1024).toFixed(0)} KB string tickets`,
      planned: FLOOD.junk,
      lanes: 1,
    },
    {
      shape: 'uuid',
      label: 'Unknown v4 UUID tickets',
      planned: FLOOD.uuid,
      lanes: FLOOD.uuidLanes,
    },
  ];
  for (const row of rows) await floodShape(row, flags);
  return {
    maxOldSpaceMb: FLOOD.maxOldSpaceMb,
    timeLimit: FLOOD.timeLimit,
    junkBytes: FLOOD.junkBytes,
    rows,
  };
}

function floodTargets(result: FloodResult): Target[] {
  return result.rows.map((row) => {
    const delta = floodDelta(row);
    const o = row.outcome;
    const flaws = [
      o && o.status !== 'complete' ? o.status : '',
      o?.accepted ? `${o.accepted} handshakes ACCEPTED` : '',
    ].filter(Boolean);
    const value =
      delta === undefined
        ? (row.error ?? o?.status ?? 'not measured')
        : `${(delta / 2 ** 20).toFixed(2)} MB${flaws.length ? ` (${flaws.join(', ')})` : ''}`;
    return {
      name:
        `Heap after ${row.planned.toLocaleString('en-US')} refused handshakes (${row.label}), ` +
        `attacker connected, within ${FLOOD_TARGET / 2 ** 20} MB of before`,
      value,
      met: delta !== undefined && !flaws.length && !row.error && Math.abs(delta) <= FLOOD_TARGET,
    };
  });
}

/**
 * The oversized-messages row against a fresh `ticket-ws` server child: a warm-up round, the memory,
 * the measured round, the memory, then a new client must still be admitted.
 */
async function framesPhase(flags: string[]): Promise<FramesResult> {
  const result: FramesResult = {
    sockets: FRAMES.sockets,
    bytes: FRAMES.bytes,
    maxPayload: DEFAULT_WS_MAX_PAYLOAD,
  };
  const server = await startServer({ variant: 'ticket-ws', heapHooks: true }, flags);
  const tokens = new BenchTokens();
  const message = oversizedMessage(FRAMES.bytes);
  const reading = async () => {
    const stats = await serverStats(server.url, '/bench/heap/gc');
    return { heap: stats.heapUsed, rss: stats.rss ?? 0 };
  };
  const tickets = () => fetchTickets(server.url, tokens, FRAMES.sockets);
  const fmt = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;
  try {
    const warmup = await sendOversized(server, await tickets(), message, FRAMES.timeout);
    if (warmup.status !== 'complete') throw new Error(`frames warm-up: ${warmup.reason}`);
    // Fetched before the first reading: the row measures the sockets and their messages.
    const measured = await tickets();
    await sleep(200);
    result.before = await reading();
    await serverStats(server.url, '/bench/heap/peak?start=1');
    result.outcome = await sendOversized(server, measured, message, FRAMES.timeout);
    await sleep(200); // let the server see the closes
    result.peakRss = (await serverStats(server.url, '/bench/heap/peak')).peakRss;
    result.after = await reading();
    const [ticket] = await fetchTickets(server.url, tokens, 1);
    result.servedAfter = await admitted(server, ticket, 5000).then(
      (ws) => {
        ws.close();
        return true;
      },
      () => false,
    );
    const o = result.outcome;
    log(
      `frames: ${o.sent} × ${fmt(FRAMES.bytes)} sent, closes ${JSON.stringify(o.closes)}` +
        `${o.reason ? ` (${o.reason})` : ''}; heap ${fmt(result.before.heap)} → ` +
        `${fmt(result.after.heap)}, RSS ${fmt(result.before.rss)} → ${fmt(result.after.rss)} ` +
        `(peak ${fmt(result.peakRss ?? 0)})`,
    );
  } catch (error) {
    result.error = server.alive()
      ? error instanceof Error
        ? error.message
        : String(error)
      : 'server died';
    log(`frames: ${result.error}`);
  } finally {
    await server.stop();
  }
  return result;
}

function framesTargets(result: FramesResult): Target[] {
  const { before, after, outcome } = result;
  const heap = before && after ? after.heap - before.heap : undefined;
  const rss = before && after ? after.rss - before.rss : undefined;
  const peak = before && result.peakRss !== undefined ? result.peakRss - before.rss : undefined;
  const closedRight = outcome?.closes['1009'] === result.sockets;
  const flaws = [
    outcome && outcome.status !== 'complete' ? outcome.reason : '',
    outcome && !closedRight ? `closes ${JSON.stringify(outcome.closes)}` : '',
    result.servedAfter === false ? 'no client admitted afterwards' : '',
  ].filter(Boolean);
  const mbOf = (bytes: number) => `${(bytes / 2 ** 20).toFixed(2)} MB`;
  const value =
    heap === undefined || rss === undefined
      ? (result.error ?? 'not measured')
      : `heap ${mbOf(heap)}, RSS ${mbOf(rss)}${peak === undefined ? '' : ` (peak ${mbOf(peak)})`}, ` +
        `1009 × ${outcome?.closes['1009'] ?? 0}` +
        (flaws.length ? ` (${flaws.join(', ')})` : '');
  return [
    {
      name:
        `Server heap and RSS after ${result.sockets} raw ws messages of ` +
        `${result.bytes / 2 ** 20} MiB (cap ${result.maxPayload / 2 ** 20} MiB) within ` +
        `${FRAMES_TARGET.heap / 2 ** 20} / ${FRAMES_TARGET.rss / 2 ** 20} MB of before, each ` +
        'closed with 1009',
      value,
      met:
        heap !== undefined &&
        rss !== undefined &&
        !flaws.length &&
        !result.error &&
        Math.abs(heap) <= FRAMES_TARGET.heap &&
        Math.abs(rss) <= FRAMES_TARGET.rss,
    },
  ];
}

function evaluate(
  results: Omit<
    BenchResults,
    'targets' | 'seconds' | 'settings' | 'refresh' | 'cap' | 'jwks' | 'telemetry' | 'rooms'
  >,
  refresh: RefreshResult,
  cap: CapResult,
  telemetry: TelemetryResult,
  rooms: RoomsResult,
): Target[] {
  const targets: Target[] = [];
  const rowOf = (key: VariantKey, concurrency: number) =>
    results.connect.find(
      (r) => r.key === key && r.mode === 'handshake' && r.concurrency === concurrency,
    )!;
  // Three decimals: a ratio shown as 0.90× must not be a miss at 0.896.
  const x = (n: number) => `${n.toFixed(3)}×`;
  for (const concurrency of CONCURRENCY) {
    const [a, b, c, d] = (['a', 'b', 'c', 'd'] as const).map((k) => rowOf(k, concurrency));
    const rate = (r: ConnectRow) => medianOf(r.runs, (run) => run.rate);
    const p99 = (r: ConnectRow) => medianOf(r.runs, (run) => run.p99);
    const ratio = (r: ConnectRow, pick: (r: ConnectRow) => number | undefined) => {
      const value = pick(r);
      const baseline = pick(a);
      return value === undefined || baseline === undefined ? undefined : value / baseline;
    };
    const cRate = ratio(c, rate)!;
    targets.push({
      name: `(c) connects/s ≥ 0.90× (a), concurrency ${concurrency}`,
      value: x(cRate),
      met: cRate >= 0.9,
    });
    const dRate = ratio(d, rate);
    targets.push({
      name: `(d) connects/s ≥ 0.80× (a), concurrency ${concurrency}`,
      value: dRate === undefined ? `skipped: ${d.skipped}` : x(dRate),
      met: dRate === undefined ? undefined : dRate >= 0.8,
    });
    const cP99 = ratio(c, p99)!;
    targets.push({
      name: `(c) p99 handshake ≤ 1.2× (a), concurrency ${concurrency}`,
      value: `${p99(c)!.toFixed(2)} ms vs ${p99(a)!.toFixed(2)} ms (${x(cP99)})`,
      met: cP99 <= 1.2,
    });
    targets.push({
      name: `(c) connects/s ≥ (b), concurrency ${concurrency}`,
      value: `${rate(c)!.toFixed(0)}/s vs ${rate(b)!.toFixed(0)}/s (${x(rate(c)! / rate(b)!)})`,
      met: rate(c)! >= rate(b)!,
    });
  }
  const bare = medianOf(results.issue.find((r) => r.key === 'bare')!.runs, (r) => r.rps)!;
  for (const key of ['memory', 'redis'] as const) {
    const row = results.issue.find((r) => r.key === key)!;
    const rps = medianOf(row.runs, (r) => r.rps);
    if (key === 'redis' && rps === undefined) continue;
    targets.push({
      name: `Issuance req/s ≥ 0.90× bare JWT route (${key} store)`,
      value: rps === undefined ? 'not measured' : x(rps / bare),
      met: rps === undefined ? undefined : rps / bare >= 0.9,
    });
  }
  if (results.heap) {
    const { before, rounds } = results.heap;
    const delta = spread(rounds.map((r) => r.after - before)).median;
    targets.push({
      name: `Heap after ${results.heap.tickets.toLocaleString('en-US')} expired tickets within 5 MB of before`,
      value: `${(delta / 2 ** 20).toFixed(2)} MB`,
      met: Math.abs(delta) <= 5 * 2 ** 20 && rounds.every((r) => r.afterTickets === 0),
    });
  }
  const trips = results.redis;
  targets.push({
    // GETDEL takes the ticket; a GET reads the user's revocation generation once the socket is in
    // its room (the check that makes a revocation on another instance final), and one script
    // takes the connection's slot (maxConnectionsPerUser, on by default) beside it; one more gives
    // the slot back when the socket closes.
    name: 'Redis round trips per connection = 4 (GETDEL + revocation generation + connection slot, and its release at close)',
    value: trips.skipped ? `skipped: ${trips.skipped}` : trips.perConsume.toFixed(2),
    met: trips.skipped ? undefined : trips.perConsume === 4,
  });
  if (results.flood) targets.push(...floodTargets(results.flood));
  if (results.frames) targets.push(...framesTargets(results.frames));
  targets.push(...refreshTargets(refresh));
  targets.push(...capTargets(cap));
  targets.push(...telemetryTargets(telemetry));
  targets.push(...roomsTargets(rooms));
  return targets;
}

function floodSetting(): string {
  return (
    `Unauthenticated flood: ${FLOOD.junk} junk handshakes (one at a time) and ` +
    `${FLOOD.uuid.toLocaleString('en-US')} unknown-UUID handshakes (${FLOOD.uuidLanes} in flight), ` +
    `each shape against a fresh server child capped at --max-old-space-size=` +
    `${FLOOD.maxOldSpaceMb}, at most ${FLOOD.timeLimit / 1000} s a shape`
  );
}

function framesSetting(): string {
  return (
    `Oversized raw WebSocket messages: ${FRAMES.sockets} authenticated clients, one ` +
    `${FRAMES.bytes / 2 ** 20} MiB message each, against a fresh server child with the ` +
    `adapter's ${DEFAULT_WS_MAX_PAYLOAD / 2 ** 20} MiB cap`
  );
}

/** The redis-server of a run, or why the Redis rows are skipped. */
async function redisOrSkip(): Promise<{ redis?: RedisServerHandle; redisSkip?: string }> {
  if (hasRedisServer()) return { redis: await startRedisServer() };
  const message = 'redis-server is not installed: SKIPPING the Redis rows (d) of the bench';
  if (process.env.WS_TICKET_REQUIRE_ALL === '1') throw new Error(message);
  loud(message);
  return { redisSkip: 'redis-server not on PATH' };
}

const ONLY_TITLES = {
  flood: 'Unauthenticated flood',
  frames: 'Oversized raw WebSocket messages',
  cap: 'Connection cap: handshake rate on vs off',
  jwks: 'Bearer keys: HS256 vs a cached JWKS key',
  telemetry: 'Telemetry: handshake rate with subscribers vs none',
  scale: 'Scale: memory per held socket, tickets consumed per second',
  rooms: 'Rooms: authorized joins, fan-out to one room, room state in memory',
} as const satisfies Record<OnlyPhase, string>;

/** The connection cap and telemetry sections' plan: the connection section's. */
const HANDSHAKE_PLAN = { runs: RUNS, warmups: WARMUP_ROUNDS, slices: SLICES, quick: QUICK };

/** The scale section's plan: three timed throughput runs (one with --quick). */
const SCALE_PLAN = { quick: QUICK, runs: QUICK ? 1 : 3 };

/** The rooms section's plan: the connection section's, with three timed join runs with --quick. */
const ROOMS_PLAN = {
  runs: QUICK ? Math.min(3, RUNS) : RUNS,
  warmups: WARMUP_ROUNDS,
  slices: SLICES,
  quick: QUICK,
};

/** The bearer key section's plan: the issuance section's. */
const JWKS_PLAN = {
  runs: RUNS,
  slices: SLICES,
  seconds: ISSUE_SECONDS,
  connections: ISSUE_CONNECTIONS,
};

/** `--only <phase>`: that phase alone, printed (never written to bench/RESULTS.md). */
async function onlyPhase(phase: OnlyPhase, flags: string[]): Promise<void> {
  const started = performance.now();
  const meter = startCpuMeter();
  let redis: RedisServerHandle | undefined;
  const cleanup = async () => {
    await stopAllServers();
    await redis?.stop();
    redis = undefined;
  };
  process.once('SIGINT', () => {
    void cleanup().finally(() => process.exit(130));
  });
  let section: string[];
  let targets: Target[];
  let setting: string;
  try {
    if (phase === 'flood') {
      const result = await floodPhase(flags);
      section = floodSection(result);
      targets = floodTargets(result);
      setting = floodSetting();
    } else if (phase === 'frames') {
      const result = await framesPhase(flags);
      section = framesSection(result);
      targets = framesTargets(result);
      setting = framesSetting();
    } else if (phase === 'jwks') {
      const result = await jwksPhase(new BenchTokens(), JWKS_PLAN, flags, log);
      section = jwksSection(result);
      targets = [];
      setting = `${jwksSetting(result)}; ${RUNS} timed runs`;
    } else if (phase === 'telemetry') {
      const result = await telemetryPhase(new BenchTokens(), HANDSHAKE_PLAN, flags, log);
      section = telemetrySection(result);
      targets = telemetryTargets(result);
      setting = `${telemetrySetting(result)}; ${RUNS} timed runs after ${WARMUP_ROUNDS} warm-up`;
    } else if (phase === 'rooms') {
      const result = await roomsPhase(ROOMS_PLAN, flags, log);
      section = roomsSection(result);
      targets = roomsTargets(result);
      setting = `${roomsSetting(result)}; ${ROOMS_PLAN.runs} timed join runs after ${WARMUP_ROUNDS} warm-up`;
    } else if (phase === 'scale') {
      const launched = await redisOrSkip();
      redis = launched.redis;
      const result = await scalePhase(redis?.url, SCALE_PLAN, flags, launched.redisSkip, log);
      section = scaleSection(result);
      targets = [];
      setting = scaleSetting(result);
    } else {
      const launched = await redisOrSkip();
      redis = launched.redis;
      const result = await capPhase(
        redis?.url,
        new BenchTokens(),
        HANDSHAKE_PLAN,
        flags,
        launched.redisSkip,
        log,
      );
      section = capSection(result);
      targets = capTargets(result);
      setting = `${capSetting(result)}; ${RUNS} timed runs after ${WARMUP_ROUNDS} warm-up`;
    }
  } finally {
    await cleanup();
  }
  const noise = meter.stop();
  const settings = [
    setting,
    QUICK ? '**--quick run: small counts, not for the record**' : 'Full counts',
    CPU_PROF
      ? '**Servers ran with --cpu-prof (slower): not for the record**'
      : 'No profiler attached',
  ];
  if (noise) {
    settings.push(
      `${noise.foreign.toFixed(1)}% of the machine's CPU time went to other processes during ` +
        `the run (hypervisor steal ${noise.steal.toFixed(1)}%)`,
    );
  }
  const title = ONLY_TITLES[phase];
  const seconds = (performance.now() - started) / 1000;
  console.log(renderOnly({ name: phase, title, section }, settings, targets, seconds));
  const missed = targets.filter((t) => t.met === false).length;
  if (missed) log(`${missed} target(s) missed`);
}

async function main(): Promise<void> {
  const started = performance.now();
  const meter = startCpuMeter();
  const flags = CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${PROFILES}`] : [];
  if (CPU_PROF) mkdirSync(PROFILES, { recursive: true });
  let redis: RedisServerHandle | undefined;
  let redisSkip: string | undefined;
  const cleanup = async () => {
    await stopAllServers();
    await redis?.stop();
    redis = undefined;
  };
  process.once('SIGINT', () => {
    void cleanup().finally(() => process.exit(130));
  });

  let results: BenchResults;
  try {
    ({ redis, redisSkip } = await redisOrSkip());
    const [a, b, c, d] = await Promise.all([
      startServer({ variant: 'bare' }, flags),
      startServer({ variant: 'jwt' }, flags),
      startServer({ variant: 'ticket-memory' }, flags),
      redis ? startServer({ variant: 'ticket-redis', redisUrl: redis.url }, flags) : undefined,
    ]);
    const servers: Servers = { a, b, c, d };
    log(
      `servers: ${Object.values(servers)
        .map((s) => s && `${s.spec.variant} ${s.url}`)
        .filter(Boolean)
        .join(', ')}`,
    );
    const tokens = new BenchTokens();
    await sanity(servers, tokens);

    const connect = await connectPhase(servers, tokens, redisSkip);
    const issue = await issuePhase(servers, tokens, redisSkip);
    const trips = await redisPhase(d, redis, tokens, redisSkip);
    const refresh = await refreshPhase(
      { memory: c, redis: d },
      tokens,
      { runs: RUNS, warmups: WARMUP_ROUNDS, slices: SLICES, quick: QUICK },
      redisSkip,
      log,
    );
    const cap = await capPhase(redis?.url, tokens, HANDSHAKE_PLAN, flags, redisSkip, log);
    const jwks = await jwksPhase(tokens, JWKS_PLAN, flags, log);
    const telemetry = await telemetryPhase(tokens, HANDSHAKE_PLAN, flags, log);
    const verify = verifyCost(tokens);
    // Alone on the machine but for the bench's redis-server.
    await stopAllServers();
    const rooms = await roomsPhase(ROOMS_PLAN, flags, log);
    const scale = await scalePhase(redis?.url, SCALE_PLAN, flags, redisSkip, log);
    await cleanup();
    const heap = await heapPhase(flags);
    const floods = await floodPhase(flags);
    const frames = await framesPhase(flags);

    const partial = {
      connect,
      issue,
      verify,
      heap,
      redis: trips,
      flood: floods,
      frames,
      notes: [] as string[],
    };
    results = {
      ...partial,
      refresh: refreshSection(refresh),
      cap: capSection(cap),
      jwks: jwksSection(jwks),
      telemetry: telemetrySection(telemetry),
      scale: scaleSection(scale),
      rooms: roomsSection(rooms),
      settings: [
        `${RUNS} timed runs per figure, after ${WARMUP_ROUNDS} warm-up run${WARMUP_ROUNDS === 1 ? '' : 's'}. In a run the ` +
          `variants take turns in ${SLICES} short slices each (the order rotating), so that the ` +
          "machine's drift reaches them alike; before the clock starts every server gets an " +
          'untimed burst of a fifth as many connections, and a minor GC (as does the bench)',
        `Connections per run: ${CONNECTS[1]} at concurrency 1, ${CONNECTS[50]} at concurrency 50 ` +
          '(half as many for the fetch-ticket-then-connect rows)',
        `Issuance: autocannon, ${ISSUE_CONNECTIONS} connections, ${ISSUE_SECONDS} s per run and ` +
          `route (${SLICES} slices; latency: median of the slices' percentiles)`,
        'Module defaults for (c)/(d) (ticket TTL 30 s, issuance limit 60 per user per minute, ' +
          `sockets closed at the JWT's exp); HS256 JWTs of ${BENCH_USERS} users, used round ` +
          'robin by every variant',
        floodSetting(),
        framesSetting(),
        refreshSetting(refresh),
        capSetting(cap),
        jwksSetting(jwks),
        telemetrySetting(telemetry),
        scaleSetting(scale),
        `${roomsSetting(rooms)}; ${ROOMS_PLAN.runs} timed join runs after ${WARMUP_ROUNDS} warm-up`,
        QUICK ? '**--quick run: small counts, not for the record**' : 'Full run',
        CPU_PROF
          ? '**Servers ran with --cpu-prof (slower): not for the record**'
          : 'No profiler attached',
      ],
      targets: evaluate(partial, refresh, cap, telemetry, rooms),
      seconds: 0,
    };
    if (redisSkip) results.notes.push(`Redis rows SKIPPED: ${redisSkip}.`);
  } finally {
    await cleanup();
  }

  const noise = meter.stop();
  if (noise) {
    const line =
      `${noise.foreign.toFixed(1)}% of the machine's CPU time went to other processes during ` +
      `the run (hypervisor steal ${noise.steal.toFixed(1)}%)`;
    const disturbed = noise.foreign + noise.steal > NOISY_PERCENT;
    results.settings.push(
      disturbed ? `**Noisy machine: ${line}; rerun on a quiet machine**` : `Quiet machine: ${line}`,
    );
    if (disturbed) loud(`Noisy machine: ${line}. Figures are disturbed; rerun when it is quiet.`);
  }
  results.seconds = (performance.now() - started) / 1000;
  const markdown = renderMarkdown(results);
  console.log(markdown);
  if (WRITE) {
    const file = join(ROOT, 'bench', 'RESULTS.md');
    writeFileSync(file, markdown);
    log(`written to ${file}`);
  }
  if (CPU_PROF) log(`CPU profiles in ${PROFILES}`);
  const missed = results.targets.filter((t) => t.met === false).length;
  if (missed) log(`${missed} target(s) missed`);
}

const profileFlags = CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${PROFILES}`] : [];
if (isOnlyPhase(ONLY)) {
  if (CPU_PROF) mkdirSync(PROFILES, { recursive: true });
  await onlyPhase(ONLY, profileFlags);
} else {
  await main();
}
