// The unauthenticated-flood attacker: raw Engine.IO/Socket.IO frames over `ws`, run in the bench
// process against a server child on 127.0.0.1. It sends namespace CONNECT packets with tickets the
// server must refuse, reopening a transport whenever the server closes one, until enough refusals
// were answered, the time limit passed, or the server died.
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import type { ServerChild } from './children.js';
import { NAMESPACE } from './constants.js';

/** One flood shape: what to send, how much, how many in flight. */
export interface FloodPlan {
  /** Refused handshakes to have answered in total. */
  total: number;
  /** Connections open at once, each with one handshake in flight (pacing). */
  lanes: number;
  /** The CONNECT packet of handshake `i` (see {@link connectFrame}). */
  frame: (i: number) => Buffer;
  /** Give up after this long, milliseconds. */
  timeLimit: number;
  /** Give up on one handshake (and its transport) after this long without an answer. */
  answerTimeout?: number;
}

/** What one flood did. */
export interface FloodOutcome {
  /** Refusals answered by the server (`44<nsp>,…` packets). */
  refused: number;
  /** Handshakes the server accepted (`40<nsp>,…`): must stay 0. */
  accepted: number;
  /** Refusals by code (`message` of the CONNECT_ERROR packet). */
  codes: Record<string, number>;
  /** Transports opened, and how many of them the server closed. */
  opened: number;
  closedByServer: number;
  /** Handshakes sent but never answered (their transport closed first, or they timed out). */
  unanswered: number;
  /** Wall time from the first open to the last answer, milliseconds. */
  elapsed: number;
  status: 'complete' | 'incomplete' | 'server died';
  /** Why it is not complete. */
  reason?: string;
}

export interface FloodHandle {
  outcome: FloodOutcome;
  /** How many of the attacker's transports are open now. */
  open(): number;
  /** Closes the attacker's transports and resolves once they are closed. */
  close(): Promise<void>;
}

/**
 * What follows a Socket.IO packet type for the bench namespace: nothing for the root namespace,
 * else the namespace and a comma (`/chat,`).
 */
const NSP = (NAMESPACE as string) === '/' ? '' : `${NAMESPACE},`;

/** An Engine.IO message (`4`) carrying a CONNECT packet (`0`) with `{ uuid: ticket }` as auth. */
export function connectFrame(ticket: string): Buffer {
  return Buffer.from(`40${NSP}${JSON.stringify({ uuid: ticket })}`);
}

/**
 * Floods `server` with refused handshakes. Resolves with the outcome while the attacker's
 * transports that the server did not close are still open.
 */
export async function flood(server: ServerChild, plan: FloodPlan): Promise<FloodHandle> {
  const wsUrl = `${server.url.replace(/^http/, 'ws')}/socket.io/?EIO=4&transport=websocket`;
  const answerTimeout = plan.answerTimeout ?? 30_000;
  const refusal = `44${NSP}`; // CONNECT_ERROR
  const acceptance = `40${NSP}`; // CONNECT
  const sockets = new Set<WebSocket>();
  const outcome: FloodOutcome = {
    refused: 0,
    accepted: 0,
    codes: {},
    opened: 0,
    closedByServer: 0,
    unanswered: 0,
    elapsed: 0,
    status: 'complete',
  };
  let reserved = 0; // handshakes sent or about to be, answered or not yet
  let next = 0; // index of the next frame
  let stopped = false;
  let closing = false;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const stop = (status: FloodOutcome['status'], reason?: string) => {
    if (stopped) return;
    stopped = true;
    outcome.status = status;
    outcome.reason = reason;
    outcome.elapsed = performance.now() - started;
    finish();
  };
  const started = performance.now();
  const deadline = setTimeout(
    () => stop('incomplete', `time limit of ${plan.timeLimit / 1000} s reached`),
    plan.timeLimit,
  );
  void server.exited.then(({ code, signal }) =>
    stop('server died', `server exited (${signal ?? `code ${code}`})`),
  );

  /** One lane: a transport at a time, one handshake in flight on it. */
  const lane = async () => {
    let failures = 0;
    while (!stopped && reserved < plan.total) {
      const result = await transport();
      if (result === 'error') {
        failures++;
        if (!server.alive()) return; // the exit handler reports it
        if (failures >= 20) {
          stop('incomplete', 'could not open a transport 20 times in a row');
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      } else {
        failures = 0;
      }
    }
  };

  /** Opens one transport and floods it until it is closed or the flood is over. */
  const transport = () =>
    new Promise<'closed' | 'error'>((resolve) => {
      const ws = new WebSocket(wsUrl, { perMessageDeflate: false, maxPayload: 1024 * 1024 });
      sockets.add(ws);
      let opened = false;
      let terminated = false;
      let inFlight = false;
      let timer: NodeJS.Timeout | undefined;
      const send = () => {
        if (stopped || closing || reserved >= plan.total || ws.readyState !== WebSocket.OPEN) {
          return;
        }
        reserved++;
        inFlight = true;
        // A text frame, even from a Buffer: a binary frame would be an attachment, not a packet.
        ws.send(plan.frame(next++), { binary: false });
        timer = setTimeout(() => {
          // No answer: count it as lost and try a fresh transport.
          terminated = true;
          ws.terminate();
        }, answerTimeout);
      };
      ws.on('open', () => {
        opened = true;
        outcome.opened++;
      });
      ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
        if (isBinary) return;
        const text = data.toString();
        if (text.startsWith('0')) {
          send(); // the Engine.IO open packet: the transport is ready
        } else if (text === '2') {
          ws.send('3'); // ping → pong, or the server drops the transport
        } else if (text.startsWith(refusal) || text.startsWith(acceptance)) {
          clearTimeout(timer);
          inFlight = false;
          if (text.startsWith(refusal)) {
            outcome.refused++;
            let code = 'unparsed';
            try {
              code = String(
                (JSON.parse(text.slice(refusal.length)) as { message?: unknown }).message,
              );
            } catch {}
            outcome.codes[code] = (outcome.codes[code] ?? 0) + 1;
          } else {
            outcome.accepted++;
          }
          if (outcome.refused + outcome.accepted >= plan.total) stop('complete');
          else send();
        }
      });
      ws.on('error', () => undefined); // 'close' follows
      ws.on('close', () => {
        clearTimeout(timer);
        sockets.delete(ws);
        if (inFlight) {
          inFlight = false;
          reserved--;
          outcome.unanswered++;
        }
        if (opened && !closing && !terminated) outcome.closedByServer++;
        resolve(opened ? 'closed' : 'error');
      });
    });

  const lanes = Array.from({ length: plan.lanes }, lane);
  await Promise.race([done, Promise.all(lanes)]);
  if (!stopped) stop('incomplete', 'every lane gave up');
  clearTimeout(deadline);

  return {
    outcome,
    open: () => [...sockets].filter((ws) => ws.readyState === WebSocket.OPEN).length,
    close: async () => {
      closing = true;
      const open = [...sockets];
      await Promise.all(
        open.map(
          (ws) =>
            new Promise<void>((resolve) => {
              if (ws.readyState === WebSocket.CLOSED) return resolve();
              const kill = setTimeout(() => ws.terminate(), 2000);
              ws.once('close', () => {
                clearTimeout(kill);
                resolve();
              });
              ws.close();
            }),
        ),
      );
      await Promise.allSettled(lanes);
    },
  };
}
