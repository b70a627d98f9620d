import { createClient } from 'redis';
import { io, type Socket } from 'socket.io-client';
import type { CapResult, CapRow, CapRun, CapStore } from './cap-report.js';
import { type ServerChild, startServer } from './children.js';
import { type BenchTokens, fetchTicket, userToken } from './client.js';
import { BENCH_USERS, benchClaims, NAMESPACE } from './constants.js';
import {
  drain,
  type HandshakeLane,
  laneCounts,
  laneFigures,
  openLane,
  runLanes,
} from './handshake-lanes.js';

/** How the phase runs: the connection phase's discipline. */
export interface CapPlan {
  runs: number;
  warmups: number;
  slices: number;
  quick: boolean;
}

/** The module's default `maxConnectionsPerUser`, which the `on` servers keep. */
const DEFAULT_MAX = 50;
const CONCURRENCY = [1, 50] as const;

type RedisClient = ReturnType<typeof createClient>;

/** A row's state in one run: Redis's CPU time beside the server's. */
interface Lane extends HandshakeLane<CapRow> {
  redisCpu: number;
}

/** The user's slots on a server as its cap counts them; `null` with the cap off. */
async function slots(url: string, user: string): Promise<number | null> {
  const response = await fetch(`${url}/bench/cap/connections?user=${encodeURIComponent(user)}`);
  if (!response.ok) throw new Error(`connections answered ${response.status}`);
  return ((await response.json()) as { count: number | null }).count;
}

/** redis-server's CPU time (user + system) so far, microseconds. */
async function redisCpu(client: RedisClient): Promise<number> {
  const info = await client.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1]);
  const seconds = field('used_cpu_sys') + field('used_cpu_user');
  if (!Number.isFinite(seconds)) throw new Error('INFO cpu: no used_cpu_sys / used_cpu_user');
  return seconds * 1e6;
}

/**
 * The servers measure what they should: a socket held open holds one slot with the cap and none
 * is counted without it; once it closes, the slot is back.
 */
async function sanity(server: ServerChild, cap: CapRow['cap'], user: number): Promise<void> {
  const { sub } = benchClaims(user);
  const ticket = await fetchTicket(server.url, userToken(user));
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = io(server.url + NAMESPACE, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      auth: { uuid: ticket },
    });
    s.once('connect', () => resolve(s));
    s.once('connect_error', (error: Error) => {
      s.close();
      reject(new Error(`cap sanity: refused: ${error.message}`));
    });
  });
  let open: number | null;
  try {
    open = await slots(server.url, sub);
  } finally {
    socket.close();
  }
  await drain(server.url);
  const closed = await slots(server.url, sub);
  const expected = cap === 'on' ? [1, 0] : [null, null];
  if (open !== expected[0] || closed !== expected[1]) {
    throw new Error(
      `cap sanity (${server.spec.variant}, cap ${cap}): ${open} slot(s) open, ${closed} closed; ` +
        `expected ${expected.join(', ')}`,
    );
  }
}

/**
 * The phase: four server children (memory and Redis store, cap on and off) started for it and
 * stopped after; per concurrency {@link CapPlan.warmups} untimed runs, then the timed ones.
 */
export async function capPhase(
  redisUrl: string | undefined,
  tokens: BenchTokens,
  plan: CapPlan,
  nodeFlags: string[],
  redisSkip: string | undefined,
  log: (line: string) => void,
): Promise<CapResult> {
  const whole = (n: number) => Math.ceil(n / plan.slices) * plan.slices;
  const counts: Record<number, number> = plan.quick ? { 1: 120, 50: 400 } : { 1: 240, 50: 800 };
  const count = Object.fromEntries(CONCURRENCY.map((c) => [c, whole(counts[c])]));
  const result: CapResult = {
    max: DEFAULT_MAX,
    users: BENCH_USERS,
    count,
    burst: Object.fromEntries(CONCURRENCY.map((c) => [c, Math.ceil(count[c] / 5)])),
    slices: plan.slices,
    rows: CONCURRENCY.flatMap((concurrency) =>
      (['memory', 'redis'] as const).flatMap((store) =>
        (['on', 'off'] as const).map((cap) => ({
          store,
          cap,
          concurrency,
          runs: [],
          skipped: store === 'redis' && !redisUrl ? redisSkip : undefined,
        })),
      ),
    ),
  };
  const servers = new Map<string, ServerChild>();
  const key = (store: CapStore, cap: CapRow['cap']) => `${store}/${cap}`;
  let redis: RedisClient | undefined;
  try {
    const specs = result.rows.filter((r) => !r.skipped && r.concurrency === CONCURRENCY[0]);
    const started = await Promise.all(
      specs.map((r) =>
        startServer(
          {
            variant: r.store === 'redis' ? 'ticket-redis' : 'ticket-memory',
            redisUrl: r.store === 'redis' ? redisUrl : undefined,
            // Unset: the module's default, what an app gets.
            maxConnectionsPerUser: r.cap === 'on' ? undefined : false,
          },
          nodeFlags,
        ),
      ),
    );
    for (const [i, r] of specs.entries()) servers.set(key(r.store, r.cap), started[i]);
    if (redisUrl) {
      redis = createClient({ url: redisUrl });
      await redis.connect();
    }
    // Users past the round-robin ones (and the refresh phase's), one per server.
    let user = 2 * BENCH_USERS;
    for (const r of specs) await sanity(servers.get(key(r.store, r.cap))!, r.cap, user++);

    for (const concurrency of CONCURRENCY) {
      const active = result.rows.filter((r) => !r.skipped && r.concurrency === concurrency);
      const counts = laneCounts(result, concurrency);
      for (let rep = -plan.warmups; rep < plan.runs; rep++) {
        // All at once: the servers issue in parallel.
        const lanes: Lane[] = await Promise.all(
          active.map(async (row) => ({
            ...(await openLane(row, servers.get(key(row.store, row.cap))!, tokens, counts)),
            redisCpu: 0,
          })),
        );
        // Redis's CPU time around each slice of a Redis row (the two never run at once).
        let redisBefore = 0;
        const probe = {
          before: async (lane: Lane) => {
            if (lane.row.store === 'redis' && redis) redisBefore = await redisCpu(redis);
          },
          after: async (lane: Lane) => {
            if (lane.row.store === 'redis' && redis) {
              lane.redisCpu += (await redisCpu(redis)) - redisBefore;
            }
          },
        };
        await runLanes(lanes, counts, rep + plan.warmups, probe);
        const runs = new Map<CapRow, CapRun>();
        for (const lane of lanes) {
          const run: CapRun = {
            ...laneFigures(lane, counts),
            redisCpuPerOp: lane.row.store === 'redis' ? lane.redisCpu / counts.count : undefined,
          };
          if (rep >= 0) lane.row.runs.push(run);
          runs.set(lane.row, run);
        }
        const line = (['memory', 'redis'] as const).flatMap((store) => {
          const [on, off] = (['on', 'off'] as const).map(
            (cap) => [...runs].find(([row]) => row.store === store && row.cap === cap)?.[1],
          );
          if (!on || !off) return [];
          return [
            `${store} on ${on.rate.toFixed(0)}/s ${on.cpuPerOp.toFixed(0)} µs, off ` +
              `${off.rate.toFixed(0)}/s ${off.cpuPerOp.toFixed(0)} µs ` +
              `(${(on.rate / off.rate).toFixed(3)}×)`,
          ];
        });
        const label =
          rep < 0
            ? `warm-up ${rep + plan.warmups + 1}/${plan.warmups}`
            : `run ${rep + 1}/${plan.runs}`;
        log(`cap @${concurrency}: ${label}: ${line.join('; ')}`);
      }
    }
  } finally {
    await redis?.close();
    await Promise.all([...servers.values()].map((server) => server.stop()));
  }
  return result;
}
