// A rooms section client child (bench/rooms.ts forks a few): holds sets of sockets (one per row),
// makes them join rooms and times each ack, and records when each fan-out message reaches each of
// them. Commands arrive over IPC (RoomsClientCommand), each answered once (ClientReply), in order.
import type { Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { WS_TICKET_JOIN_EVENT } from '../lib/index.js';
import { serveCommands } from './child-commands.js';
import { pool } from './client.js';
import { closeAll, dropAll, type HeldSocket, hold } from './held-sockets.js';
import {
  BARE_JOIN_EVENT,
  type CollectReply,
  type JoinCommand,
  type JoinReply,
  type RoomsClientCommand,
  roomOf,
  TICK_EVENT,
  type Tick,
} from './rooms-wire.js';

const clock = () => performance.timeOrigin + performance.now();
const JOIN_TIMEOUT = 10_000;

/** A fan-out message's receipts in one set. */
interface Receipts {
  count: number;
  /** Latest receipt minus `sent`, milliseconds. */
  last: number;
  /** Called once every socket of the set got it. */
  done?: () => void;
}

interface HeldSet {
  sockets: HeldSocket[];
  /** Receipts by message, from `watch` on; an entry goes when collected. */
  receipts?: Map<number, Receipts>;
}

const sets = new Map<string, HeldSet>();
/** The answer a raw socket waits for: its join's ack frame, by event. */
const waiting = new WeakMap<WebSocket, { event: string; resolve: (data: unknown) => void }>();
/** Fan-out receipts of a raw socket go to its set's. */
const watchers = new WeakMap<WebSocket, (tick: Tick) => void>();

function setOf(name: string): HeldSet {
  const set = sets.get(name);
  if (!set) throw new Error(`no socket set ${name}`);
  return set;
}

/** One frame handler per raw socket: join acks and fan-out messages. */
function listen(ws: WebSocket): void {
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) return;
    const frame = JSON.parse(data.toString()) as { event?: string; data?: unknown };
    if (frame.event === TICK_EVENT) {
      watchers.get(ws)?.(frame.data as Tick);
      return;
    }
    const waiter = waiting.get(ws);
    if (waiter && frame.event === waiter.event) {
      waiting.delete(ws);
      waiter.resolve(frame.data);
    }
  });
}

function joinWs(ws: WebSocket, event: string, room: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiting.delete(ws);
      reject(new Error(`no ${event} answer in ${JOIN_TIMEOUT} ms`));
    }, JOIN_TIMEOUT);
    waiting.set(ws, {
      event,
      resolve: (data) => {
        clearTimeout(timer);
        resolve(data);
      },
    });
    ws.send(JSON.stringify({ event, data: { room } }));
  });
}

async function join(command: JoinCommand): Promise<JoinReply> {
  const { sockets } = setOf(command.set);
  const event = command.via === 'module' ? WS_TICKET_JOIN_EVENT : BARE_JOIN_EVENT;
  const latencies = new Array<number>(sockets.length * command.count);
  let failed = 0;
  let error: string | undefined;
  const started = performance.now();
  await pool(sockets.length, command.concurrency, async (i) => {
    const socket = sockets[i];
    for (let k = 0; k < command.count; k++) {
      const j = command.from + k;
      const room = roomOf(command.rooms, i, j);
      const sent = performance.now();
      try {
        // Closed by the server: no ack would come (socket.io-client would buffer the emit).
        if (
          socket instanceof WebSocket ? socket.readyState !== WebSocket.OPEN : !socket.connected
        ) {
          throw new Error('socket closed');
        }
        const ack = (
          socket instanceof WebSocket
            ? await joinWs(socket, event, room)
            : await (socket as Socket).timeout(JOIN_TIMEOUT).emitWithAck(event, { room })
        ) as { ok?: boolean; code?: string } | undefined;
        if (ack?.ok !== true) throw new Error(`join ${room}: ${JSON.stringify(ack)}`);
      } catch (caught) {
        failed++;
        error ??= caught instanceof Error ? caught.message : String(caught);
      }
      latencies[i * command.count + k] = performance.now() - sent;
    }
  });
  return {
    joined: latencies.length - failed,
    failed,
    error,
    elapsedMs: performance.now() - started,
    latencies,
  };
}

function watch(name: string): { watching: number } {
  const set = setOf(name);
  const receipts = new Map<number, Receipts>();
  set.receipts = receipts;
  const size = set.sockets.length;
  const receive = (tick: Tick) => {
    const now = clock();
    let entry = receipts.get(tick.seq);
    if (!entry) {
      entry = { count: 0, last: -1 };
      receipts.set(tick.seq, entry);
    }
    entry.count++;
    entry.last = Math.max(entry.last, now - tick.sent);
    if (entry.count === size) entry.done?.();
  };
  for (const socket of set.sockets) {
    if (socket instanceof WebSocket) watchers.set(socket, receive);
    else socket.on(TICK_EVENT, receive);
  }
  return { watching: size };
}

async function collect(name: string, seq: number, timeoutMs: number): Promise<CollectReply> {
  const set = setOf(name);
  const receipts = set.receipts ?? new Map<number, Receipts>();
  let entry = receipts.get(seq);
  if (!entry) {
    entry = { count: 0, last: -1 };
    receipts.set(seq, entry);
  }
  const mine = entry;
  if (mine.count < set.sockets.length) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      mine.done = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  receipts.delete(seq);
  return { received: mine.count, last: mine.last };
}

async function run(command: RoomsClientCommand): Promise<unknown> {
  switch (command.op) {
    case 'hold': {
      const set = sets.get(command.set) ?? { sockets: [] };
      sets.set(command.set, set);
      const from = set.sockets.length;
      const reply = await hold({ ...command, op: 'hold' }, set.sockets);
      for (const socket of set.sockets.slice(from)) {
        if (socket instanceof WebSocket) listen(socket);
      }
      return reply;
    }
    case 'join':
      return join(command);
    case 'watch':
      return watch(command.set);
    case 'collect':
      return collect(command.set, command.seq, command.timeoutMs);
    case 'release': {
      const set = sets.get(command.set);
      const keep = command.keep ?? 0;
      if (keep === 0) sets.delete(command.set);
      const closing = set?.sockets.splice(keep) ?? [];
      await closeAll(closing);
      return { closed: closing.length };
    }
  }
}

serveCommands(run, () => {
  for (const set of sets.values()) dropAll(set.sockets);
});
