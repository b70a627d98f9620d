// A scale section client child (bench/scale.ts forks several): holds a share of the sockets in its
// own process (a process opens at most 20,000 files here), runs handshakes or a bare GETDEL loop.
// Commands arrive over IPC (ClientCommand), each answered once (ClientReply), in order.
import { createHash } from 'node:crypto';
import { Agent, request } from 'node:http';
import { createClient } from 'redis';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { connectOnce, pool, userToken } from './client.js';
import { benchClaims, NAMESPACE } from './constants.js';
import type {
  ClientCommand,
  ClientReply,
  HoldCommand,
  HoldReply,
  TimedReply,
} from './scale-wire.js';

type RedisClient = ReturnType<typeof createClient>;

const clock = () => performance.timeOrigin + performance.now();
const held: Array<Socket | WebSocket> = [];
let fetched: string[] = [];
let redis: RedisClient | undefined;
let seeded: string[] = [];

const tokens = new Map<number, string>();
function tokenOf(user: number): string {
  let token = tokens.get(user);
  if (!token) {
    token = userToken(user);
    tokens.set(user, token);
  }
  return token;
}

/** POSTs a user's JWT to the ticket endpoint over `agent`; resolves the ticket. */
function fetchTicket(agent: Agent, url: string, user: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/auth/ws-ticket`,
      { method: 'POST', agent, headers: { authorization: `Bearer ${tokenOf(user)}` } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => {
          if (res.statusCode !== 201)
            reject(new Error(`ticket endpoint answered ${res.statusCode}`));
          else resolve((JSON.parse(body) as { uuid: string }).uuid);
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

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

function openIo(url: string, ticket: string | undefined, localAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = io(url + NAMESPACE, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      auth: ticket ? { uuid: ticket } : undefined,
      timeout: 30_000,
      localAddress,
    } as Parameters<typeof io>[1]);
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (error: Error) => {
      socket.close();
      reject(new Error(`connect refused: ${error.message}`));
    });
  });
}

function openWs(url: string, ticket: string | undefined, localAddress: string): Promise<WebSocket> {
  const query = ticket ? `?uuid=${ticket}` : '';
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}${NAMESPACE}${query}`, {
      perMessageDeflate: false,
      localAddress,
    });
    const fail = (error: Error) => {
      ws.terminate();
      reject(error);
    };
    ws.once('error', fail);
    ws.once('unexpected-response', (_request, response) =>
      fail(new Error(`upgrade refused with ${response.statusCode}`)),
    );
    ws.once('open', () => {
      ws.off('error', fail);
      ws.on('error', () => undefined);
      resolve(ws);
    });
  });
}

/** Tries per socket: a kept-alive HTTP connection the server closes as it is reused fails once. */
const ATTEMPTS = 2;

/**
 * Opens `count` sockets, `concurrency` at a time, each fetching its ticket right before its
 * handshake (as a browser does): a ticket lives 30 s, less than opening thousands takes. A socket
 * that fails is tried once more with a new ticket (its user stays under the issuance limit).
 */
async function hold(command: HoldCommand): Promise<HoldReply> {
  const { url, count, ticketed, firstUser, perUser, concurrency, localAddress } = command;
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const started = performance.now();
  let failed = 0;
  let retried = 0;
  let error: string | undefined;
  const open = async (i: number) => {
    const ticket = ticketed
      ? await fetchTicket(agent, url, firstUser + Math.floor(i / perUser))
      : undefined;
    return command.transport === 'io'
      ? openIo(url, ticket, localAddress)
      : openWs(url, ticket, localAddress);
  };
  try {
    await pool(count, concurrency, async (i) => {
      for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
        try {
          held.push(await open(i));
          return;
        } catch (caught) {
          error ??= caught instanceof Error ? caught.message : String(caught);
          if (attempt < ATTEMPTS) retried++;
          else failed++;
        }
      }
    });
  } finally {
    // The server must hold sockets, not idle HTTP connections.
    agent.destroy();
  }
  return {
    opened: count - failed,
    failed,
    retried,
    error,
    openMs: performance.now() - started,
  };
}

async function release(): Promise<{ closed: number }> {
  const sockets = held.splice(0);
  await Promise.all(
    sockets.map((socket) => {
      if (socket instanceof WebSocket) {
        if (socket.readyState === WebSocket.CLOSED) return undefined;
        return new Promise<void>((resolve) => {
          socket.once('close', () => resolve());
          socket.close();
        });
      }
      socket.close();
      return undefined;
    }),
  );
  return { closed: sockets.length };
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
      return hold(command);
    case 'release':
      return release();
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

let queue = Promise.resolve();
process.on('message', (message: { id: number; command: ClientCommand }) => {
  queue = queue.then(async () => {
    let reply: ClientReply;
    try {
      reply = { id: message.id, ok: true, result: await run(message.command) };
    } catch (error) {
      reply = {
        id: message.id,
        ok: false,
        error: error instanceof Error ? error.message : String(error),
      };
    }
    process.send?.(reply);
  });
});
process.on('disconnect', () => {
  for (const socket of held) {
    if (socket instanceof WebSocket) socket.terminate();
    else socket.close();
  }
  void redis?.close().catch(() => undefined);
  process.exit(0);
});
process.send?.({ id: 0, ok: true, result: 'ready' } satisfies ClientReply);
