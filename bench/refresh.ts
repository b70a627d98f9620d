// The session refresh phase (issue #13: a refresh costs no more than a handshake). On the memory-
// and Redis-store servers, ticket handshakes against `ws-ticket:refresh` on sockets already
// connected, the rows taking turns in slices as in the connection phase. bench/refresh-report.ts
// renders the result.
import { performance } from 'node:perf_hooks';
import { io, type Socket } from 'socket.io-client';
import {
  WS_TICKET_REFRESH_EVENT,
  WS_TICKET_REFRESH_LIMIT,
  WsTicketErrorCode,
  type WsTicketRefreshAck,
} from '../lib/index.js';
import type { ServerChild } from './children.js';
import {
  type BenchTokens,
  connectOnce,
  fetchTicket,
  fetchTickets,
  pool,
  rotate,
  serverStats,
  settle,
  sleep,
  userToken,
} from './client.js';
import { BENCH_USERS, NAMESPACE } from './constants.js';
import type { RefreshResult, RefreshRow, RefreshRun, RefreshStore } from './refresh-report.js';
import { percentile } from './report.js';

/** How the phase runs: the connection phase's discipline. */
export interface RefreshPlan {
  runs: number;
  warmups: number;
  slices: number;
  quick: boolean;
}

const CONCURRENCY = 50;
/** Lets the last handshakes' closes land before the server's CPU time is read, milliseconds. */
const PAUSE = 50;

/**
 * The refresh sockets' users: past the round-robin ones and a new one per socket, so that none
 * comes near the issuance limit (60 tickets a user a minute; a socket takes one plus its refreshes)
 * however many runs go by.
 */
let nextUser = BENCH_USERS;

/** A row's state in one run. */
interface Lane {
  row: RefreshRow;
  server: ServerChild;
  /** One per operation, the burst's first. */
  tickets: string[];
  /** Refresh rows: the open sockets, operation `i` on socket `i % sockets.length`. */
  sockets: Socket[];
  latencies: Float64Array;
  elapsed: number;
  cpu: number;
}

/** Opens a socket with `ticket` and resolves it once connected; it stays open. */
function openSocket(url: string, ticket: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = io(url + NAMESPACE, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      auth: { uuid: ticket },
      timeout: 10_000,
    });
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (error: Error) => {
      socket.close();
      reject(new Error(`refresh socket refused: ${error.message}`));
    });
  });
}

function refresh(socket: Socket, uuid: string): Promise<WsTicketRefreshAck> {
  return socket.timeout(10_000).emitWithAck(WS_TICKET_REFRESH_EVENT, { uuid });
}

/** One refresh, emit → ack in milliseconds; throws unless the server extended the session. */
async function refreshOnce(socket: Socket, uuid: string): Promise<number> {
  const start = performance.now();
  const ack = await refresh(socket, uuid);
  const elapsed = performance.now() - start;
  if (!ack?.ok || typeof ack.expiresAt !== 'number') {
    throw new Error(`refresh not applied: ${JSON.stringify(ack)}`);
  }
  return elapsed;
}

/** The refreshes measured do the work: a spent ticket is refused, a fresh one applied. */
async function sanity(server: ServerChild): Promise<void> {
  const token = userToken(nextUser++);
  const spent = await fetchTicket(server.url, token);
  const socket = await openSocket(server.url, spent);
  try {
    const ack = await refresh(socket, spent);
    if (ack.ok || ack.code !== WsTicketErrorCode.TICKET_INVALID) {
      throw new Error(`a refresh with a spent ticket answered ${JSON.stringify(ack)}`);
    }
    await refreshOnce(socket, await fetchTicket(server.url, token));
  } finally {
    socket.close();
  }
}

/**
 * Tickets of a run, fetched before the clock; for a refresh row also its sockets, opened, each
 * with a user of its own, whose tickets its refreshes then use.
 */
async function prepare(
  row: RefreshRow,
  server: ServerChild,
  tokens: BenchTokens,
  total: number,
  sockets: number,
): Promise<Lane> {
  const lane: Lane = {
    row,
    server,
    tickets: [],
    sockets: [],
    latencies: new Float64Array(total),
    elapsed: 0,
    cpu: 0,
  };
  if (row.op === 'handshake') {
    lane.tickets = await fetchTickets(server.url, tokens, total);
    return lane;
  }
  const users = Array.from({ length: sockets }, () => userToken(nextUser++));
  lane.sockets = new Array<Socket>(sockets);
  await pool(sockets, 16, async (i) => {
    lane.sockets[i] = await openSocket(server.url, await fetchTicket(server.url, users[i]));
  });
  lane.tickets = new Array<string>(total);
  await pool(total, 16, async (i) => {
    lane.tickets[i] = await fetchTicket(server.url, users[i % sockets]);
  });
  return lane;
}

/** Operations `from` … `from + n - 1` of a lane, {@link CONCURRENCY} in flight. */
function operate(lane: Lane, from: number, n: number): Promise<void> {
  const { url } = lane.server;
  return pool(n, CONCURRENCY, async (j) => {
    const i = from + j;
    lane.latencies[i] =
      lane.row.op === 'handshake'
        ? await connectOnce(url, { uuid: lane.tickets[i] })
        : await refreshOnce(lane.sockets[i % lane.sockets.length], lane.tickets[i]);
  });
}

/**
 * One run: tickets and sockets first, an untimed burst of every row, a minor GC in the bench and
 * the servers, then the rows take turns in slices. A store's two rows share its server, so its CPU
 * time is read around each slice rather than once a run.
 */
async function refreshRun(lanes: Lane[], result: RefreshResult, rep: number): Promise<void> {
  const { burst, count, slices } = result;
  for (const lane of lanes) await operate(lane, 0, burst);
  for (const url of new Set(lanes.map((lane) => lane.server.url))) await settle(url);
  const size = count / slices;
  for (let slice = 0; slice < slices; slice++) {
    for (const lane of rotate(lanes, rep + slice)) {
      const before = (await serverStats(lane.server.url)).cpu;
      const started = performance.now();
      await operate(lane, burst + slice * size, size);
      lane.elapsed += (performance.now() - started) / 1000;
      await sleep(result.pause);
      lane.cpu += (await serverStats(lane.server.url)).cpu - before;
    }
  }
}

/**
 * The phase: {@link RefreshPlan.warmups} untimed runs, then the timed ones, each of the four rows
 * (handshake and refresh, memory and Redis) getting the same operations per run.
 */
export async function refreshPhase(
  servers: Record<RefreshStore, ServerChild | undefined>,
  tokens: BenchTokens,
  plan: RefreshPlan,
  redisSkip: string | undefined,
  log: (line: string) => void,
): Promise<RefreshResult> {
  const count = Math.ceil((plan.quick ? 300 : 800) / plan.slices) * plan.slices;
  const burst = Math.ceil(count / 5);
  const result: RefreshResult = {
    concurrency: CONCURRENCY,
    count,
    burst,
    // Enough for every operation of a run within the limit, and one per client in flight.
    sockets: Math.max(CONCURRENCY, Math.ceil((burst + count) / WS_TICKET_REFRESH_LIMIT)),
    slices: plan.slices,
    pause: PAUSE,
    rows: (['memory', 'redis'] as const).flatMap((store) =>
      (['handshake', 'refresh'] as const).map((op) => ({
        store,
        op,
        runs: [],
        skipped: servers[store] ? undefined : redisSkip,
      })),
    ),
  };
  const active = result.rows.filter((row) => !row.skipped);
  for (const row of active) if (row.op === 'refresh') await sanity(servers[row.store]!);
  for (let rep = -plan.warmups; rep < plan.runs; rep++) {
    const lanes: Lane[] = [];
    try {
      // All at once: the two servers issue in parallel.
      const prepared = await Promise.allSettled(
        active.map((row) =>
          prepare(row, servers[row.store]!, tokens, burst + count, result.sockets),
        ),
      );
      for (const p of prepared) if (p.status === 'fulfilled') lanes.push(p.value);
      const failed = prepared.find((p) => p.status === 'rejected');
      if (failed) throw failed.reason;
      await refreshRun(lanes, result, rep + plan.warmups);
    } finally {
      for (const lane of lanes) for (const socket of lane.sockets) socket.close();
    }
    const runs = new Map<RefreshRow, RefreshRun>();
    for (const lane of lanes) {
      const { row } = lane;
      const timed = lane.latencies.subarray(burst);
      const run = {
        rate: count / lane.elapsed,
        p50: percentile(timed, 0.5),
        p99: percentile(timed, 0.99),
        cpuPerOp: lane.cpu / count,
      };
      if (rep >= 0) row.runs.push(run);
      runs.set(row, run);
    }
    const line = (['memory', 'redis'] as const).flatMap((store) => {
      const [handshake, refresh] = active
        .filter((row) => row.store === store)
        .map((row) => runs.get(row)!);
      if (!handshake || !refresh) return [];
      const figures = (run: RefreshRun) => `${run.rate.toFixed(0)}/s ${run.cpuPerOp.toFixed(0)} µs`;
      return [
        `${store} handshake ${figures(handshake)}, refresh ${figures(refresh)} ` +
          `(CPU ${(refresh.cpuPerOp / handshake.cpuPerOp).toFixed(2)}×)`,
      ];
    });
    const label =
      rep < 0 ? `warm-up ${rep + plan.warmups + 1}/${plan.warmups}` : `run ${rep + 1}/${plan.runs}`;
    log(`refresh: ${label}: ${line.join('; ')}`);
  }
  return result;
}
