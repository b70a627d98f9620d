import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { after, before } from 'node:test';
import type { LoggerService } from '@nestjs/common';
import { Logger } from '@nestjs/common';
import { createClient } from 'redis';
import { type RedisServerHandle, startRedisServer } from '../../support/redis-server.js';

/** A node-redis client for the test's own inspection of Redis. The caller closes it. */
export async function inspector(url: string): Promise<ReturnType<typeof createClient>> {
  const client = createClient({ url, name: 'test-inspector' });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** The key the service stores a ticket under, with the default prefix. */
export function ticketKey(uuid: string, prefix = 'ws-ticket:'): string {
  return prefix + createHash('sha256').update(uuid).digest('hex');
}

/** The key of a user's connection set (`maxConnectionsPerUser`), with the default prefix. */
export function connectionSetKey(userId: string, prefix = 'ws-ticket:'): string {
  return `${prefix}conn:${createHash('sha256').update(userId).digest('hex')}`;
}

/** `ZCOUNT` of the leases that end after Redis's own `TIME`, read in the same script. */
const LIVE_SLOTS = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. string.format('%.0f', now), '+inf')`;

/**
 * The user's live connection slots, read from Redis by the test itself (not through the store's
 * own script): what every instance counts against `maxConnectionsPerUser`.
 */
export async function liveSlots(
  redis: ReturnType<typeof createClient>,
  userId: string,
): Promise<number> {
  const count = await redis.eval(LIVE_SLOTS, { keys: [connectionSetKey(userId)] });
  if (typeof count !== 'number') throw new Error(`ZCOUNT answered ${String(count)}`);
  return count;
}

/** Commands Redis executed, as reported by `MONITOR` on a raw connection. */
export interface RedisMonitor {
  /** Executed commands, each as its upper-cased name and arguments. */
  readonly commands: string[][];
  /**
   * Resolves once Redis has reported every command it executed before this call: sends
   * `ECHO <marker>` on a side connection and waits for it in the stream (Redis executes and feeds
   * monitors in order).
   */
  sync(): Promise<void>;
  close(): void;
}

/** Starts `MONITOR` on a raw TCP connection to Redis on `port`. */
export async function startMonitor(port: number): Promise<RedisMonitor> {
  const commands: string[][] = [];
  const waiters = new Map<string, () => void>();
  const socket = await open(port);
  let buffer = '';
  socket.on('data', (chunk) => {
    buffer += chunk.toString('utf8');
    let end = buffer.indexOf('\r\n');
    while (end !== -1) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\r\n');
      // +1700000000.123456 [0 127.0.0.1:50000] "GETDEL" "ws-ticket:…"
      const match = /^\+\d+\.\d+ \[[^\]]*\] (.*)$/.exec(line);
      if (!match) continue;
      const args = [...match[1].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]);
      if (args[0]?.toUpperCase() === 'ECHO' && waiters.has(args[1])) {
        waiters.get(args[1])?.();
        waiters.delete(args[1]);
        continue;
      }
      commands.push([args[0]?.toUpperCase() ?? '', ...args.slice(1)]);
    }
  });
  await new Promise<void>((resolve) => {
    socket.once('data', () => resolve());
    socket.write('MONITOR\r\n');
  });
  let n = 0;
  return {
    commands,
    async sync() {
      const marker = `monitor-sync-${++n}`;
      const seen = new Promise<void>((resolve) => waiters.set(marker, resolve));
      const side = await open(port);
      side.write(`ECHO ${marker}\r\n`);
      await seen;
      side.destroy();
    },
    close: () => socket.destroy(),
  };
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Connections Redis has accepted since it started (`INFO stats`): a reconnection shows here. */
export async function connectionsReceived(redis: ReturnType<typeof createClient>): Promise<number> {
  const match = /total_connections_received:(\d+)/.exec(await redis.info('stats'));
  if (!match) throw new Error('no total_connections_received in INFO stats');
  return Number(match[1]);
}

/** The pid of the redis-server answering on `url` (to pause it with SIGSTOP). */
export async function redisPid(url: string): Promise<number> {
  const client = await inspector(url);
  try {
    const info = await client.info('server');
    const match = /process_id:(\d+)/.exec(info);
    if (!match) throw new Error('no process_id in INFO server');
    return Number(match[1]);
  } finally {
    client.destroy();
  }
}

/**
 * Polls `probe` until it returns true; fails after `bound` ms. Bounds a wait for recovery, it does
 * not measure it.
 */
export async function eventually(
  probe: () => Promise<boolean> | boolean,
  what: string,
  bound = 10_000,
): Promise<void> {
  const deadline = Date.now() + bound;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Keeps what Nest's Logger prints, to assert on log lines. */
export class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  log(message: unknown) {
    this.lines.push(`log ${String(message)}`);
  }
  error(message: unknown) {
    this.lines.push(`error ${String(message)}`);
  }
  warn(message: unknown) {
    this.lines.push(`warn ${String(message)}`);
  }
  debug(message: unknown) {
    this.lines.push(`debug ${String(message)}`);
  }
  verbose(message: unknown) {
    this.lines.push(`verbose ${String(message)}`);
  }
  fatal(message: unknown) {
    this.lines.push(`fatal ${String(message)}`);
  }

  /** Routes every `new Logger(...)` of the process here (Nest apps reset it when created). */
  install(): this {
    Logger.overrideLogger(this);
    return this;
  }

  count(pattern: RegExp): number {
    return this.lines.filter((line) => pattern.test(line)).length;
  }
}

/**
 * Starts a redis-server and an inspecting client before the enclosing suite, hands both to `use`,
 * and stops them after it.
 */
export function withRedisServer(
  use: (redis: RedisServerHandle, inspect: ReturnType<typeof createClient>) => void,
): void {
  let redis: RedisServerHandle | undefined;
  let inspect: ReturnType<typeof createClient> | undefined;
  before(async () => {
    redis = await startRedisServer();
    inspect = await inspector(redis.url);
    use(redis, inspect);
  });
  after(async () => {
    inspect?.destroy();
    await redis?.stop();
  });
}
