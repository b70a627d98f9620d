// A scale section client child (bench/scale.ts forks several): holds a share of the sockets in its
// own process (a process opens at most 20,000 files here), runs handshakes or a bare GETDEL loop.
// Commands arrive over IPC (ClientCommand), each answered once (ClientReply), in order.
import { createHash } from 'node:crypto';
import { Agent } from 'node:http';
import { createClient } from 'redis';
import { serveCommands } from './child-commands.js';
import { connectOnce, pool } from './client.js';
import { benchClaims } from './constants.js';
import { closeAll, dropAll, fetchTicket, type HeldSocket, hold } from './held-sockets.js';
import type { ClientCommand, TimedReply } from './scale-wire.js';

type RedisClient = ReturnType<typeof createClient>;

const clock = () => performance.timeOrigin + performance.now();
const held: HeldSocket[] = [];
let fetched: string[] = [];
let redis: RedisClient | undefined;
let seeded: string[] = [];

/**
 * Tickets from `url`, ticket `i` of user `user(i)`, 8 requests in flight on kept-alive connections
 * that are closed after: the server must hold sockets, not idle HTTP connections.
 */
async function fetchTickets(url: string, count: number, user: (i: number) => number) {
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const tickets = new Array<string>(count);
  try {
    await pool(count, 8, async (i) => {
      tickets[i] = await fetchTicket(agent, url, user(i));
    });
  } finally {
    agent.destroy();
  }
  return tickets;
}

async function handshakes(url: string, concurrency: number): Promise<TimedReply> {
  const tickets = fetched;
  fetched = [];
  let failed = 0;
  let error: string | undefined;
  const cpu = process.cpuUsage();
  const started = clock();
  await pool(tickets.length, concurrency, async (i) => {
    await connectOnce(url, { uuid: tickets[i] }).catch((caught: Error) => {
      failed++;
      error ??= caught.message;
    });
  });
  return { done: tickets.length - failed, failed, error, ...since(started, cpu) };
}

/** A ticket record's size and shape: what `GETDEL` of a real ticket returns. */
function record(i: number): string {
  const now = Date.now();
  const iat = Math.floor(now / 1000);
  const claims = { iat, exp: iat + 3600, ...benchClaims(i) };
  return JSON.stringify({ claims, expiresAt: now + 30_000, gen: 0 });
}

async function seed(redisUrl: string, prefix: string, count: number) {
  redis ??= createClient({ url: redisUrl });
  if (!redis.isOpen) await redis.connect();
  const client = redis;
  seeded = Array.from(
    { length: count },
    (_, i) => `${prefix}${createHash('sha256').update(`${prefix}${i}`).digest('hex')}`,
  );
  // Commands of one tick go out as one pipeline.
  for (let from = 0; from < count; from += 1000) {
    await Promise.all(
      seeded
        .slice(from, from + 1000)
        .map((key, i) =>
          client.set(key, record(from + i), { expiration: { type: 'PX', value: 600_000 } }),
        ),
    );
  }
  return { seeded: count };
}

async function getdel(concurrency: number): Promise<TimedReply> {
  const client = redis ?? (() => fail('getdel before seed'))();
  const keys = seeded;
  seeded = [];
  let next = 0;
  let failed = 0;
  const cpu = process.cpuUsage();
  const started = clock();
  const worker = async () => {
    while (next < keys.length) {
      if ((await client.getDel(keys[next++])) === null) failed++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { done: keys.length - failed, failed, ...since(started, cpu) };
}

/** The end of a timed command and the CPU time it took since `cpu` was read. */
function since(started: number, cpu: NodeJS.CpuUsage) {
  const { user, system } = process.cpuUsage(cpu);
  return { started, ended: clock(), cpu: user + system };
}

function fail(message: string): never {
  throw new Error(message);
}

async function run(command: ClientCommand): Promise<unknown> {
  switch (command.op) {
    case 'hold':
      return hold(command, held);
    case 'release': {
      const sockets = held.splice(0);
      await closeAll(sockets);
      return { closed: sockets.length };
    }
    case 'fetch':
      fetched = await fetchTickets(command.url, command.count, (i) => command.firstUser + i);
      return { fetched: fetched.length };
    case 'handshakes':
      return handshakes(command.url, command.concurrency);
    case 'seed':
      return seed(command.redisUrl, command.prefix, command.count);
    case 'getdel':
      return getdel(command.concurrency);
  }
}

serveCommands(run, () => {
  dropAll(held);
  void redis?.close().catch(() => undefined);
});
