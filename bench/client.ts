import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { io } from 'socket.io-client';
import { signJwt } from '../test/support/jwt.js';
import {
  BENCH_SECRET,
  BENCH_USERS,
  benchClaims,
  NAMESPACE,
  type ServerStats,
} from './constants.js';

/**
 * The HS256 bearer JWT of bench user `i`, valid one hour: the session of a socket it opens ends
 * then, long after the bench, so no `ws-ticket:expiring` is sent during it.
 */
export function userToken(i: number): string {
  return signJwt(benchClaims(i), { secret: BENCH_SECRET, expiresIn: 3600 });
}

/** The JWTs of the bench users, handed out round robin. */
export class BenchTokens {
  private readonly tokens = Array.from({ length: BENCH_USERS }, (_, i) => userToken(i));
  private cursor = 0;

  next(): string {
    const token = this.tokens[this.cursor];
    this.cursor = (this.cursor + 1) % this.tokens.length;
    return token;
  }
}

/** Runs `task(0..total-1)` with at most `concurrency` in flight. */
export async function pool(
  total: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < total) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
}

/** `items` rotated left by `by`: the order in which variants take their turns in a slice. */
export function rotate<T>(items: T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as (options: { type: 'minor' }) => void;

/**
 * Starts a timed run from the same state on both ends: the young generation emptied in the bench
 * process and in the server, so that garbage from what came before (such as fetching tickets) is
 * not collected inside the run. Minor collections only: see the server's `collectGarbage`.
 */
export async function settle(url: string): Promise<void> {
  collect({ type: 'minor' });
  await serverStats(url, '/bench/gc');
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Opens one Socket.IO connection to the bench namespace over the WebSocket transport, waits for
 * `connect`, closes it, and resolves the time from `io()` to `connect`, in milliseconds.
 */
export function connectOnce(url: string, auth?: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const socket = io(url + NAMESPACE, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      auth,
      timeout: 10_000,
    });
    socket.once('connect', () => {
      const elapsed = performance.now() - start;
      socket.close();
      resolve(elapsed);
    });
    socket.once('connect_error', (error: Error) => {
      socket.close();
      reject(new Error(`connect refused: ${error.message}`));
    });
  });
}

/** Resolves the refusal code of a handshake that should be refused, or throws if it was accepted. */
export function refusedWith(url: string, auth?: Record<string, string>): Promise<string> {
  return connectOnce(url, auth).then(
    () => {
      throw new Error('an unauthenticated handshake was accepted');
    },
    (error: Error) => error.message,
  );
}

/** Connects, asks `whoami`, and resolves the user the server sees. */
export function whoami(url: string, auth?: Record<string, string>): Promise<unknown> {
  const socket = io(url + NAMESPACE, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    auth,
  });
  return socket
    .timeout(5000)
    .emitWithAck('whoami')
    .finally(() => socket.close());
}

/** POSTs the bearer JWT to the ticket endpoint and resolves the ticket. */
export async function fetchTicket(url: string, jwt: string): Promise<string> {
  const response = await fetch(`${url}/auth/ws-ticket`, {
    method: 'POST',
    headers: { authorization: `Bearer ${jwt}` },
  });
  if (response.status !== 201) throw new Error(`ticket endpoint answered ${response.status}`);
  return ((await response.json()) as { uuid: string }).uuid;
}

/** Fetches `count` tickets up front (concurrently), outside any timed phase. */
export async function fetchTickets(
  url: string,
  tokens: BenchTokens,
  count: number,
): Promise<string[]> {
  const tickets = new Array<string>(count);
  await pool(count, 16, async (i) => {
    tickets[i] = await fetchTicket(url, tokens.next());
  });
  return tickets;
}

/** Reads a bench server's admin hook. */
export async function serverStats(url: string, path = '/bench/stats'): Promise<ServerStats> {
  const response = await fetch(url + path, { method: path === '/bench/stats' ? 'GET' : 'POST' });
  if (!response.ok) throw new Error(`${path} answered ${response.status}`);
  return (await response.json()) as ServerStats;
}
