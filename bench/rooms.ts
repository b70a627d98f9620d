// The rooms section (issue #18): an authorized join (`ws-ticket:join`, a rule) against a bare
// gateway's `socket.join`, fan-out to a 1,000-member room with and without the module, and the
// heap that room state takes. Servers are bench/rooms-server.ts children, the sockets are held
// by bench/rooms-clients.ts children. bench/rooms-report.ts renders the result.
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { type ListeningChild, startChild } from './children.js';
import { rotate, serverStats, settle, sleep } from './client.js';
import { BENCH_USERS } from './constants.js';
import { heapCensus } from './heap-census.js';
import { percentile } from './report.js';
import type { HeapReading, HeapRow, JoinRun, RoomsResult } from './rooms-report.js';
import {
  type CollectReply,
  type EmitReply,
  type EmitVia,
  FANOUT_ROOM,
  type JoinCommand,
  type JoinReply,
  ORDERS,
  type RoomPlan,
  type RoomsClientCommand,
  type RoomsSnapshot,
  type RoomsStats,
  type RoomsVariant,
} from './rooms-wire.js';
import { ClientChild, shares } from './scale-processes.js';
import type { HoldReply } from './scale-wire.js';

/** How the phase runs: the other sections' discipline. */
export interface RoomsPlan {
  quick: boolean;
  runs: number;
  warmups: number;
  slices: number;
}

const SERVER = fileURLToPath(new URL('./rooms-server.js', import.meta.url));
const CLIENT = fileURLToPath(new URL('./rooms-clients.js', import.meta.url));

const VARIANTS: Record<RoomsVariant, string> = {
  'io-bare': '(a) Socket.IO, bare `socket.join` handler',
  'io-ticket': '(b) Socket.IO, `ws-ticket:join` + rule',
  'ws-bare': '(c) raw ws, bare Map-of-Sets handler',
  'ws-ticket': '(d) raw ws, `ws-ticket:join` + rule',
};

const FANOUT: Array<{ variant: RoomsVariant; via: EmitVia; label: string }> = [
  { variant: 'io-bare', via: 'server', label: '(a) bare, `server.to(room).emit`' },
  { variant: 'io-ticket', via: 'server', label: '(b) module, `server.to(room).emit`' },
  { variant: 'io-ticket', via: 'module', label: '(b) module, `WsTicketRooms.to(room).emit`' },
  { variant: 'ws-bare', via: 'loop', label: '(c) bare, hand loop over its registry' },
  { variant: 'ws-ticket', via: 'loop', label: '(d) module, hand loop over the same sockets' },
  { variant: 'ws-ticket', via: 'module', label: '(d) module, `WsTicketRooms.to(room).emit`' },
];

/** Client child processes: two, as many as the machine has cores. */
const CLIENTS = 2;
/** Sockets per user with tickets: below the cap (50) and the issuance limit (60 a minute). */
const PER_USER = 40;
/** Handshakes (or joining sockets) in flight at once, over all client children. */
const CONCURRENCY = 50;
/** Lets a slice's last work land before the server's CPU time is read, milliseconds. */
const PAUSE = 20;
/** Distinct rooms of the memory rows. */
const HEAP_ROOMS = 1000;
const ROOMS_PER_SOCKET = 10;
/**
 * How long after its handshake the module keeps a socket's ticket consumption (to share it with
 * the connection's other namespaces), plus a second: the heap readings come later than this after
 * the last socket opened, so that no consumption is forgotten between them.
 */
const SHARE_WINDOW = 11_000;
/** How long a client waits for a fan-out message to reach all its sockets, milliseconds. */
const COLLECT_TIMEOUT = 10_000;

type Clients = ClientChild<RoomsClientCommand>[];
type Servers = Record<RoomsVariant, ListeningChild>;

/** Users past the other sections' (round robin, refresh, cap, telemetry, scale). */
let nextUser = 6 * BENCH_USERS;

/** Logs a part's failure; its message. */
function failure(part: string, error: unknown, log: (line: string) => void): string {
  const message = error instanceof Error ? error.message : String(error);
  log(`rooms ${part}: FAILED: ${message}`);
  return message;
}

const ticketed = (variant: RoomsVariant) => variant.endsWith('ticket');
const transportOf = (variant: RoomsVariant) => (variant.startsWith('io') ? 'io' : 'ws');

async function roomsHook<T>(url: string, path: string, method = 'POST'): Promise<T> {
  const response = await fetch(`${url}/bench/rooms/${path}`, { method });
  if (!response.ok) throw new Error(`/bench/rooms/${path} answered ${response.status}`);
  return (await response.json()) as T;
}

const stats = (url: string, room = FANOUT_ROOM) =>
  roomsHook<RoomsStats>(url, `stats?room=${room}`, 'GET');

/**
 * Client children `clients` open their shares of `total` sockets on a server into set `set`, new
 * users each; throws unless every one opened.
 */
async function holdSet(
  clients: Clients,
  server: ListeningChild,
  variant: RoomsVariant,
  set: string,
  total: number,
): Promise<void> {
  const replies = await Promise.all(
    shares(total, clients.length).map((count, k) => {
      const firstUser = nextUser;
      nextUser += Math.ceil(count / PER_USER);
      return clients[k].call<HoldReply>({
        op: 'hold',
        set,
        url: server.url,
        transport: transportOf(variant),
        count,
        ticketed: ticketed(variant),
        firstUser,
        perUser: PER_USER,
        concurrency: Math.ceil(CONCURRENCY / clients.length),
        localAddress: `127.0.0.${k + 2}`,
      });
    }),
  );
  const failed = replies.reduce((sum, r) => sum + r.failed, 0);
  if (failed) {
    throw new Error(
      `${variant}: ${failed} of ${total} sockets failed to open (${replies.find((r) => r.error)?.error})`,
    );
  }
}

/** Joins on every client child's share of a set; the replies merged. */
async function joinAll(
  clients: Clients,
  variant: RoomsVariant,
  set: string,
  command: Omit<JoinCommand, 'op' | 'set' | 'via' | 'rooms'> & { rooms: RoomPlan },
  sizes: number[],
): Promise<JoinReply> {
  let first = command.rooms.first ?? 0;
  const replies = await Promise.all(
    clients.map((client, k) => {
      const rooms = { ...command.rooms, first };
      first += sizes[k];
      return client.call<JoinReply>({
        ...command,
        op: 'join',
        set,
        via: ticketed(variant) ? 'module' : 'bare',
        rooms,
      });
    }),
  );
  return {
    joined: replies.reduce((sum, r) => sum + r.joined, 0),
    failed: replies.reduce((sum, r) => sum + r.failed, 0),
    error: replies.find((r) => r.error)?.error,
    elapsedMs: Math.max(...replies.map((r) => r.elapsedMs)),
    latencies: replies.flatMap((r) => r.latencies),
  };
}

/** Closes a set's sockets on every client child, or all but the first `keep[k]` on child `k`. */
const release = (clients: Clients, set: string, keep?: number[]) =>
  Promise.all(clients.map((client, k) => client.call({ op: 'release', set, keep: keep?.[k] })));

/** Waits until the server holds `expected` sockets (at most 10 s); its last stats. */
async function socketsReach(url: string, expected: number): Promise<RoomsStats> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    const now = await stats(url);
    if (now.sockets === expected || performance.now() > deadline) return now;
    await sleep(100);
  }
}

/**
 * The joins measured do the work: an open order's room is joined (the server counts one member),
 * the private order's is refused with `room_forbidden` on the module's servers.
 */
async function sanity(servers: Servers, client: Clients): Promise<void> {
  for (const [variant, server] of Object.entries(servers) as [RoomsVariant, ListeningChild][]) {
    await holdSet(client, server, variant, 'sanity', 1);
    try {
      const open = await joinAll(
        client,
        variant,
        'sanity',
        {
          from: 7,
          count: 1,
          concurrency: 1,
          rooms: { prefix: 'order:', stride: 0, modulo: ORDERS },
        },
        [1],
      );
      const members = (await stats(server.url, 'order:7')).members;
      if (open.failed || members !== 1) {
        throw new Error(
          `${variant}: joining order:7 gave ${open.error ?? 'ok'}, ${members} members`,
        );
      }
      if (!ticketed(variant)) continue;
      const closed = await joinAll(
        client,
        variant,
        'sanity',
        {
          from: ORDERS - 1,
          count: 1,
          concurrency: 1,
          rooms: { prefix: 'order:', stride: 0, modulo: ORDERS },
        },
        [1],
      );
      if (!closed.error?.includes('room_forbidden')) {
        throw new Error(`${variant}: joining the private order gave ${closed.error ?? 'ok'}`);
      }
    } finally {
      await release(client, 'sanity');
    }
  }
}

const joinSet = (variant: RoomsVariant, rep: number) => `join-${variant}-${rep}`;

/** Opens every run's sockets of the join rows up front (a run's joins need fresh sockets). */
async function holdJoinSets(
  result: RoomsResult,
  servers: Servers,
  client: Clients,
  plan: RoomsPlan,
): Promise<void> {
  for (let rep = -plan.warmups; rep < plan.runs; rep++) {
    for (const row of result.join.rows) {
      await holdSet(
        client,
        servers[row.variant],
        row.variant,
        joinSet(row.variant, rep),
        result.join.sockets,
      );
    }
  }
}

/**
 * The join rows: per run, each row's sockets (opened before, by one client child) join rooms, the
 * rows taking turns in slices, each slice a share of every socket's joins.
 */
async function joinRows(
  result: RoomsResult,
  servers: Servers,
  client: Clients,
  plan: RoomsPlan,
  log: (line: string) => void,
): Promise<void> {
  const { sockets, perSocket, slices } = result.join;
  const per = perSocket / slices;
  const rows = result.join.rows;
  for (let rep = -plan.warmups; rep < plan.runs; rep++) {
    const lanes = rows.map((row) => ({
      row,
      elapsed: 0,
      cpu: 0,
      joins: 0,
      latencies: [] as number[],
    }));
    try {
      for (const lane of lanes) await settle(servers[lane.row.variant].url);
      for (let slice = 0; slice < slices; slice++) {
        for (const lane of rotate(lanes, rep + plan.warmups + slice)) {
          const { url } = servers[lane.row.variant];
          const before = (await serverStats(url)).cpu;
          const reply = await joinAll(
            client,
            lane.row.variant,
            joinSet(lane.row.variant, rep),
            {
              from: slice * per,
              count: per,
              concurrency: sockets,
              // Every join a room of its own within the run; never the private order.
              rooms: { prefix: 'order:', stride: perSocket, modulo: ORDERS - 1 },
            },
            [sockets],
          );
          if (reply.failed) {
            throw new Error(`${lane.row.variant}: ${reply.failed} joins failed (${reply.error})`);
          }
          await sleep(PAUSE);
          lane.cpu += (await serverStats(url)).cpu - before;
          lane.elapsed += reply.elapsedMs / 1000;
          lane.joins += reply.joined;
          lane.latencies.push(...reply.latencies);
        }
      }
    } finally {
      for (const lane of lanes) await release(client, joinSet(lane.row.variant, rep));
    }
    const line = lanes.map((lane) => {
      const run: JoinRun = {
        rate: lane.joins / lane.elapsed,
        p50: percentile(lane.latencies, 0.5),
        p99: percentile(lane.latencies, 0.99),
        cpuPerJoin: lane.cpu / lane.joins,
      };
      if (rep >= 0) lane.row.runs.push(run);
      return `${lane.row.variant} ${run.rate.toFixed(0)}/s ${run.cpuPerJoin.toFixed(0)} µs`;
    });
    const label =
      rep < 0 ? `warm-up ${rep + plan.warmups + 1}/${plan.warmups}` : `run ${rep + 1}/${plan.runs}`;
    log(`rooms joins: ${label}: ${line.join(', ')}`);
  }
}

const heapSet = (variant: RoomsVariant) => `heap-${variant}`;

/**
 * The server's heap: a snapshot's data (compiled code left out) counted, and the snapshot deleted;
 * `heapUsed` right after it.
 */
async function readHeap(url: string, expected: number): Promise<HeapReading> {
  const taken = await roomsHook<RoomsSnapshot>(url, 'snapshot');
  try {
    if (taken.sockets !== expected)
      throw new Error(`${taken.sockets} sockets open, not ${expected}`);
    return { heapUsed: taken.heapUsed, census: (await heapCensus(taken.path)).data };
  } finally {
    await rm(taken.path, { force: true });
  }
}

/**
 * One server's room state, its sockets opened long enough before (see {@link SHARE_WINDOW}): the
 * heap with the sockets idle, then every socket joins its rooms, the heap again.
 */
async function heapRow(
  row: HeapRow,
  server: ListeningChild,
  clients: Clients,
  log: (line: string) => void,
): Promise<void> {
  const sizes = shares(row.sockets, clients.length);
  try {
    row.before = await readHeap(server.url, row.sockets);
    const reply = await joinAll(
      clients,
      row.variant,
      heapSet(row.variant),
      {
        from: 0,
        count: ROOMS_PER_SOCKET,
        concurrency: Math.ceil(CONCURRENCY / clients.length),
        rooms: { prefix: 'order:', stride: ROOMS_PER_SOCKET, modulo: HEAP_ROOMS },
      },
      sizes,
    );
    row.failed = reply.failed;
    row.error = reply.error;
    await sleep(500);
    row.after = await readHeap(server.url, row.sockets);
    const kib = (pick: (reading: HeapReading) => number) =>
      ((pick(row.after!) - pick(row.before!)) / row.sockets / 1024).toFixed(2);
    log(
      `rooms heap ${row.variant}: ${row.sockets} sockets, ${reply.joined} joins (${reply.failed} failed); ` +
        `KiB per socket: ${kib((r) => r.census)} (snapshot), ${kib((r) => r.heapUsed)} (heapUsed)`,
    );
  } catch (error) {
    row.error = error instanceof Error ? error.message : String(error);
    log(`rooms heap ${row.variant}: ${row.error}`);
  }
}

/**
 * The fan-out rows, on the room state rows' sockets (as many kept as the room gets members, all
 * servers at once): each server's members join the room, then one message at a time, the rows
 * taking turns.
 */
async function fanoutRows(
  result: RoomsResult,
  servers: Servers,
  clients: Clients,
  log: (line: string) => void,
): Promise<void> {
  const { members, warmup, messages } = result.fanout;
  const sizes = shares(members, clients.length);
  const variants = Object.keys(servers) as RoomsVariant[];
  for (const variant of variants) {
    const set = heapSet(variant);
    await release(clients, set, sizes);
    const held = await socketsReach(servers[variant].url, members);
    if (held.sockets !== members) throw new Error(`${variant}: ${held.sockets} sockets open`);
    const reply = await joinAll(
      clients,
      variant,
      set,
      {
        from: 0,
        count: 1,
        concurrency: Math.ceil(CONCURRENCY / clients.length),
        rooms: { prefix: FANOUT_ROOM },
      },
      sizes,
    );
    const counted = (await stats(servers[variant].url)).members;
    if (reply.failed || counted !== members) {
      throw new Error(
        `${variant}: ${counted} members in ${FANOUT_ROOM} (${reply.failed} joins failed: ${reply.error})`,
      );
    }
    await Promise.all(clients.map((client) => client.call({ op: 'watch', set })));
  }
  let seq = 0;
  for (let round = -warmup; round < messages; round++) {
    for (const row of rotate(result.fanout.rows, round + warmup)) {
      seq += 1;
      const { url } = servers[row.variant];
      const emitted = await roomsHook<EmitReply>(url, `emit?via=${row.via}&seq=${seq}`);
      const replies = await Promise.all(
        clients.map((client) =>
          client.call<CollectReply>({
            op: 'collect',
            set: heapSet(row.variant),
            seq,
            timeoutMs: COLLECT_TIMEOUT,
          }),
        ),
      );
      if (round < 0) continue;
      const received = replies.reduce((sum, r) => sum + r.received, 0);
      if (received < members) row.short += 1;
      row.last.push(Math.max(...replies.map((r) => r.last)));
      row.callMs.push(emitted.callMs);
      row.cpu.push(emitted.cpu);
    }
  }
  log(
    `rooms fan-out: ${result.fanout.rows
      .map(
        (row) =>
          `${row.variant}/${row.via} p50 ${percentile(row.last, 0.5).toFixed(2)} ms p95 ${percentile(row.last, 0.95).toFixed(2)} ms`,
      )
      .join(', ')}`,
  );
}

/**
 * The phase: four server children and {@link CLIENTS} client children started for it and stopped
 * after; the joins (warm-up, then timed runs), the room state (the servers side by side), the
 * fan-out. A part that fails is said in the result (and the log), the others still run.
 */
export async function roomsPhase(
  plan: RoomsPlan,
  flags: string[],
  log: (line: string) => void,
): Promise<RoomsResult> {
  const variants = Object.keys(VARIANTS) as RoomsVariant[];
  const result: RoomsResult = {
    clients: CLIENTS,
    join: {
      sockets: CONCURRENCY,
      perSocket: Math.ceil((plan.quick ? 20 : 40) / plan.slices) * plan.slices,
      slices: plan.slices,
      pause: PAUSE,
      rows: variants.map((variant) => ({ variant, label: VARIANTS[variant], runs: [] })),
    },
    fanout: {
      members: 1000,
      clients: CLIENTS,
      warmup: plan.quick ? 2 : 5,
      messages: plan.quick ? 20 : 100,
      rows: FANOUT.map((row) => ({ ...row, last: [], callMs: [], cpu: [], short: 0 })),
    },
    heap: {
      // At least the fan-out's members: the fan-out rows keep that many of them.
      sockets: plan.quick ? 1000 : 2000,
      roomsPerSocket: ROOMS_PER_SOCKET,
      rooms: HEAP_ROOMS,
      clients: CLIENTS,
      rows: [],
    },
  };
  result.heap.rows = variants.map((variant) => ({
    variant,
    label: VARIANTS[variant],
    sockets: result.heap.sockets,
    failed: 0,
  }));
  const children: ListeningChild[] = [];
  const clients: Clients = [];
  try {
    const started = await Promise.all(
      variants.map((variant) =>
        startChild(SERVER, `rooms-${variant}`, JSON.stringify({ variant }), flags, 30_000),
      ),
    );
    children.push(...started);
    const servers = Object.fromEntries(variants.map((v, i) => [v, started[i]])) as Servers;
    clients.push(
      ...(await Promise.all(
        Array.from({ length: CLIENTS }, (_, i) => ClientChild.start<RoomsClientCommand>(i, CLIENT)),
      )),
    );
    const one = clients.slice(0, 1);
    await sanity(servers, one);
    const begun = performance.now();
    // Every socket of the joins and the room state first: then the joins, while the module
    // forgets the consumptions (idle sockets on a server cost it nothing but their ping).
    for (const row of result.heap.rows) {
      await holdSet(clients, servers[row.variant], row.variant, heapSet(row.variant), row.sockets);
    }
    await holdJoinSets(result, servers, one, plan);
    const opened = performance.now();
    log(
      `rooms: sockets of the joins and the room state opened in ${((opened - begun) / 1000).toFixed(1)} s`,
    );
    await joinRows(result, servers, one, plan, log).catch((error: unknown) => {
      result.join.error = failure('joins', error, log);
    });
    const joined = performance.now();
    log(`rooms: joins in ${((joined - opened) / 1000).toFixed(1)} s`);
    await sleep(SHARE_WINDOW - (joined - opened));
    // The servers side by side: the readings come after forced GCs, whatever the others do.
    await Promise.all(
      result.heap.rows.map((row) => heapRow(row, servers[row.variant], clients, log)),
    );
    const fanout = performance.now();
    log(`rooms: room state in ${((fanout - joined) / 1000).toFixed(1)} s`);
    await fanoutRows(result, servers, clients, log).catch((error: unknown) => {
      result.fanout.error = failure('fan-out', error, log);
    });
    log(`rooms: fan-out in ${((performance.now() - fanout) / 1000).toFixed(1)} s`);
    for (const variant of variants) await release(clients, heapSet(variant));
  } finally {
    await Promise.all(clients.map((client) => client.stop()));
    await Promise.all(children.map((child) => child.stop()));
  }
  return result;
}
