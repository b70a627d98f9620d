// Held sockets for the client children (bench/scale-clients.ts, bench/rooms-clients.ts): open
// many Socket.IO or raw WebSocket connections, tickets fetched on the way, keep them, close them.
import { Agent, request } from 'node:http';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { pool, userToken } from './client.js';
import { NAMESPACE } from './constants.js';
import type { HoldCommand, HoldReply } from './scale-wire.js';

/** A socket a client child holds. */
export type HeldSocket = Socket | WebSocket;

const tokens = new Map<number, string>();

/** The bench JWT of user `user`, signed once per process. */
export function tokenOf(user: number): string {
  let token = tokens.get(user);
  if (!token) {
    token = userToken(user);
    tokens.set(user, token);
  }
  return token;
}

/** POSTs a user's JWT to the ticket endpoint over `agent`; resolves the ticket. */
export function fetchTicket(agent: Agent, url: string, user: number): Promise<string> {
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

export function openIo(
  url: string,
  ticket: string | undefined,
  localAddress: string,
): Promise<Socket> {
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

export function openWs(
  url: string,
  ticket: string | undefined,
  localAddress: string,
): Promise<WebSocket> {
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
 * Opens `count` sockets into `held`, `concurrency` at a time, each fetching its ticket right
 * before its handshake (as a browser does): a ticket lives 30 s, less than opening thousands
 * takes. A socket that fails is tried once more with a new ticket (its user stays under the
 * issuance limit).
 */
export async function hold(command: HoldCommand, held: HeldSocket[]): Promise<HoldReply> {
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

/** Closes sockets, resolving once every raw WebSocket among them has closed. */
export async function closeAll(sockets: HeldSocket[]): Promise<void> {
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
}

/** Drops sockets at once (the bench went away). */
export function dropAll(sockets: HeldSocket[]): void {
  for (const socket of sockets) {
    if (socket instanceof WebSocket) socket.terminate();
    else socket.close();
  }
}
