// The oversized-message sender: authenticated raw WebSocket clients (`ws`), run in the bench process
// against a `ticket-ws` server child on 127.0.0.1. Each client opens with its own ticket, proves it
// is in (`whoami`), then all send one message over the server's cap at once; the server must close
// every one with 1009 without buffering the messages.
import WebSocket from 'ws';
import type { ServerChild } from './children.js';
import { NAMESPACE } from './constants.js';

/** What one round of oversized messages did. */
export interface FramesOutcome {
  /** Sockets opened and admitted (each answered `whoami`). */
  opened: number;
  /** Oversized messages sent. */
  sent: number;
  /** How the server closed the sockets, by close code (1009: message too big). */
  closes: Record<string, number>;
  status: 'complete' | 'incomplete';
  /** Why it is not complete. */
  reason?: string;
}

/**
 * A text message of `bytes` bytes shaped like a Nest `WsAdapter` message (`{"event":…,"data":…}`),
 * so that a server without a cap would buffer and parse it.
 */
export function oversizedMessage(bytes: number): Buffer {
  const head = '{"event":"whoami","data":"';
  const tail = '"}';
  return Buffer.from(head + 'x'.repeat(bytes - head.length - tail.length) + tail);
}

/** Opens an admitted socket on the bench path with `ticket`, and checks it with `whoami`. */
export function admitted(server: ServerChild, ticket: string, timeout: number): Promise<WebSocket> {
  const url = `${server.url.replace(/^http/, 'ws')}${NAMESPACE}?uuid=${ticket}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const timer = setTimeout(() => fail(new Error('no whoami answer in time')), timeout);
    const fail = (error: Error) => {
      clearTimeout(timer);
      ws.terminate();
      reject(error);
    };
    ws.on('error', fail);
    ws.once('unexpected-response', (_request, response) =>
      fail(new Error(`upgrade refused with ${response.statusCode}`)),
    );
    ws.once('open', () => ws.send(JSON.stringify({ event: 'whoami' })));
    ws.once('message', () => {
      clearTimeout(timer);
      ws.off('error', fail);
      ws.on('error', () => undefined); // 'close' follows, and says how
      resolve(ws);
    });
  });
}

/**
 * One round: a socket per ticket, all admitted first, then one `message` each, all at once.
 * Resolves once the server closed every socket, or after `timeout` milliseconds (the sockets left
 * open are then terminated and the round is incomplete).
 */
export async function sendOversized(
  server: ServerChild,
  tickets: string[],
  message: Buffer,
  timeout = 30_000,
): Promise<FramesOutcome> {
  const outcome: FramesOutcome = { opened: 0, sent: 0, closes: {}, status: 'complete' };
  const sockets = await Promise.all(tickets.map((ticket) => admitted(server, ticket, timeout)));
  outcome.opened = sockets.length;
  const closed = sockets.map(
    (ws) =>
      new Promise<void>((resolve) =>
        ws.once('close', (code: number) => {
          outcome.closes[code] = (outcome.closes[code] ?? 0) + 1;
          resolve();
        }),
      ),
  );
  for (const ws of sockets) {
    ws.send(message, { binary: false });
    outcome.sent++;
  }
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeout);
  });
  const result = await Promise.race([Promise.all(closed), deadline]);
  clearTimeout(timer);
  if (result === 'timeout') {
    outcome.status = 'incomplete';
    outcome.reason = `${sockets.filter((ws) => ws.readyState !== WebSocket.CLOSED).length} sockets still open after ${timeout / 1000} s`;
    for (const ws of sockets) ws.terminate();
  }
  return outcome;
}
