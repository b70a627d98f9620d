// What the scale section's processes say to each other: the server child's spec and hooks
// (bench/scale-server.ts), the client children's commands (bench/scale-clients.ts).

/**
 * Which server a scale child runs: a bare gateway on Nest's `IoAdapter` or `WsAdapter`, the same
 * behind the module's adapter (memory store, every option at its default), or a Socket.IO instance
 * on a shared redis-server (`RedisTicketStore({ url })`).
 */
export type ScaleVariant = 'io-bare' | 'io-ticket' | 'ws-bare' | 'ws-ticket' | 'io-redis';

export interface ScaleServerSpec {
  variant: ScaleVariant;
  /** `redis://…` for `io-redis`. */
  redisUrl?: string;
}

/** What the scale hooks answer (`/bench/scale/stats`, `/bench/scale/gc`). */
export interface ScaleStats {
  /** Sockets open on the gateway (Socket.IO namespace sockets, or `ws` clients). */
  sockets: number;
  /** Files the process has open (`/proc/self/fd`), when readable. */
  files?: number;
  /** `process.memoryUsage()`, bytes. */
  heapUsed: number;
  rss: number;
  external: number;
  /** `process.getActiveResourcesInfo()` by kind (`Timeout` counts ref'd timers). */
  resources: Record<string, number>;
  /** `process.cpuUsage()` user + system, microseconds. */
  cpu: number;
}

/** What `POST /bench/scale/consume` answers: in-process `WsTicketService.consume()` of prepared tickets. */
export interface ConsumeReply {
  consumed: number;
  failed: number;
  /** Epoch milliseconds (performance.timeOrigin based) of the first call and the last answer. */
  started: number;
  ended: number;
  /** The server process's CPU time (user + system) over the consumption, microseconds. */
  cpu: number;
}

/** How a client child holds sockets. */
export interface HoldCommand {
  op: 'hold';
  url: string;
  transport: 'io' | 'ws';
  /** Sockets to open. */
  count: number;
  /** With tickets: socket `i` uses a ticket of user `firstUser + floor(i / perUser)`. */
  ticketed: boolean;
  firstUser: number;
  perUser: number;
  /** Handshakes in flight at once. */
  concurrency: number;
  /** Loopback source address (127.0.0.x), so that no two children share a port range. */
  localAddress: string;
}

export type ClientCommand =
  | HoldCommand
  | { op: 'release' }
  /** Fetches one ticket per handshake of a later `handshakes` command, users from `firstUser`. */
  | { op: 'fetch'; url: string; count: number; firstUser: number }
  /** Socket.IO handshakes of the fetched tickets, each closed at `connect`. */
  | { op: 'handshakes'; url: string; concurrency: number }
  /** SETs `count` ticket-shaped keys for a later `getdel`. */
  | { op: 'seed'; redisUrl: string; prefix: string; count: number }
  /** GETDELs the seeded keys, `concurrency` in flight on one connection. */
  | { op: 'getdel'; concurrency: number };

/** What a `hold` command did. */
export interface HoldReply {
  opened: number;
  /** Sockets that failed twice, and that failed once then opened. */
  failed: number;
  retried: number;
  /** The first refusal or error, if any. */
  error?: string;
  /** Milliseconds the child took to fetch the tickets and open the sockets. */
  openMs: number;
}

/** What a timed command (`handshakes`, `getdel`) did, epoch milliseconds around it. */
export interface TimedReply {
  done: number;
  failed: number;
  error?: string;
  started: number;
  ended: number;
  /** The child's CPU time (user + system) over the command, microseconds. */
  cpu: number;
}

export interface ClientReply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}
