import type { Socket } from 'socket.io-client';
import type { WebSocket } from 'ws';
import { closeWs, openedWs } from '../ws/fixtures/ws-app.js';
import { ticketFor } from './app.js';
import { ANSWER_WAIT_MS, connected } from './sockets.js';
import { withDeadline } from './stop-child.js';

/** The sample's ticket endpoint (behind its global `api` prefix). */
const TICKET_PATH = '/api/auth/ws-ticket';

/** The answer to `ws-ticket:join` / `ws-ticket:leave` (an ack on Socket.IO, a frame on raw ws). */
export interface RoomAck {
  ok: boolean;
  room: string | null;
  code?: string;
}

/** `room-message` as the sample delivers it. */
export interface RoomMessage {
  room: string;
  from: string;
  text: string;
}

/** `ws-ticket:left`: the server took the socket out of a room. */
export interface RoomLeft {
  room: string;
  code: string;
}

/** A refused frame: Socket.IO's `exception` event, raw ws's `exception` frame. */
export interface Refusal {
  code: string;
  message?: string;
}

/**
 * One user's chat socket of the sample, over either transport, recording everything the server
 * sends it: so a test can assert both what arrived and what never did.
 */
export interface RoomClient {
  /** The Socket.IO socket's id (the room it is alone in); undefined on raw ws. */
  readonly socketId?: string;
  join(room: string): Promise<RoomAck>;
  leave(room: string): Promise<RoomAck>;
  /** Sends `room-message` `{ room, text }` (no answer when it is delivered). */
  say(room: string, text: string): void;
  readonly messages: RoomMessage[];
  readonly lefts: RoomLeft[];
  readonly refusals: Refusal[];
  /** Resolves once `probe` holds over what arrived; fails by name after {@link ANSWER_WAIT_MS}. */
  until(probe: () => boolean, what: string): Promise<void>;
  close(): Promise<void>;
}

/** How the tests reach one of the sample's chat endpoints. */
export interface SampleTransport {
  name: string;
  /** The compiled entry of the sample (`npm run sample` / `npm run sample:ws`). */
  entry: 'main.js' | 'main-ws.js';
  /** Opens the chat with a fresh ticket of `token`'s user, failing unless the sample accepts. */
  open(url: string, token: string): Promise<RoomClient>;
}

/** What every transport's client shares: the records and the waits on them. */
abstract class RecordingClient implements RoomClient {
  readonly messages: RoomMessage[] = [];
  readonly lefts: RoomLeft[] = [];
  readonly refusals: Refusal[] = [];
  private readonly waiters = new Set<() => void>();

  abstract join(room: string): Promise<RoomAck>;
  abstract leave(room: string): Promise<RoomAck>;
  abstract say(room: string, text: string): void;
  abstract close(): Promise<void>;

  until(probe: () => boolean, what: string): Promise<void> {
    if (probe()) return Promise.resolve();
    let check!: () => void;
    const arrived = new Promise<void>((resolve) => {
      check = () => {
        if (!probe()) return;
        this.waiters.delete(check);
        resolve();
      };
      this.waiters.add(check);
    });
    return withDeadline(
      arrived,
      ANSWER_WAIT_MS,
      () => `${what}; received ${this.describe()}`,
    ).catch((error: unknown) => {
      this.waiters.delete(check);
      throw error;
    });
  }

  protected record(event: string, data: unknown): void {
    const payload = (data ?? {}) as Record<string, unknown> & { message?: { code?: string } };
    if (event === 'room-message') this.messages.push(payload as unknown as RoomMessage);
    else if (event === 'ws-ticket:left') this.lefts.push(payload as unknown as RoomLeft);
    else if (event === 'exception') {
      // Nest emits a WsException's object as it is; a string one comes as `{ status, message }`.
      const code = typeof payload.code === 'string' ? payload.code : payload.message?.code;
      this.refusals.push({ code: String(code), message: payload.message as string | undefined });
    } else return;
    for (const check of [...this.waiters]) check();
  }

  private describe(): string {
    return JSON.stringify({
      messages: this.messages,
      lefts: this.lefts,
      refusals: this.refusals,
    });
  }
}

/** Socket.IO `/chat` (`npm run sample`). */
class IoRoomClient extends RecordingClient {
  readonly socketId: string | undefined;

  constructor(private readonly socket: Socket) {
    super();
    this.socketId = socket.id;
    for (const event of ['room-message', 'ws-ticket:left', 'exception']) {
      socket.on(event, (data: unknown) => this.record(event, data));
    }
  }

  join(room: string): Promise<RoomAck> {
    return this.socket.timeout(ANSWER_WAIT_MS).emitWithAck('ws-ticket:join', { room });
  }

  leave(room: string): Promise<RoomAck> {
    return this.socket.timeout(ANSWER_WAIT_MS).emitWithAck('ws-ticket:leave', { room });
  }

  say(room: string, text: string): void {
    this.socket.emit('room-message', { room, text });
  }

  async close(): Promise<void> {
    this.socket.close();
  }
}

/** Raw WebSocket `/ws/chat` (`npm run sample:ws`): Nest `WsAdapter` frames `{ event, data }`. */
class WsRoomClient extends RecordingClient {
  /** Acks awaited, by event and room (the frame carries the room it answers). */
  private readonly acks = new Map<string, (ack: RoomAck) => void>();

  constructor(private readonly ws: WebSocket) {
    super();
    ws.on('message', (raw: Buffer) => {
      const frame = JSON.parse(raw.toString()) as { event?: string; data?: unknown };
      const event = String(frame.event);
      if (event === 'ws-ticket:join' || event === 'ws-ticket:leave') {
        const ack = frame.data as RoomAck;
        const key = `${event} ${ack?.room}`;
        this.acks.get(key)?.(ack);
        this.acks.delete(key);
        return;
      }
      this.record(event, frame.data);
    });
  }

  join(room: string): Promise<RoomAck> {
    return this.ask('ws-ticket:join', room);
  }

  leave(room: string): Promise<RoomAck> {
    return this.ask('ws-ticket:leave', room);
  }

  say(room: string, text: string): void {
    this.ws.send(JSON.stringify({ event: 'room-message', data: { room, text } }));
  }

  close(): Promise<void> {
    return closeWs(this.ws);
  }

  private ask(event: string, room: string): Promise<RoomAck> {
    const key = `${event} ${room}`;
    const answer = new Promise<RoomAck>((resolve) => this.acks.set(key, resolve));
    this.ws.send(JSON.stringify({ event, data: { room } }));
    return withDeadline(answer, ANSWER_WAIT_MS, `the answer to ${key}`);
  }
}

/** Both of the sample's chat endpoints: Socket.IO `/chat` and raw WebSocket `/ws/chat`. */
export const SAMPLE_TRANSPORTS: readonly SampleTransport[] = [
  {
    name: 'Socket.IO /chat (npm run sample)',
    entry: 'main.js',
    async open(url, token) {
      const uuid = await ticketFor(url, token, TICKET_PATH);
      return new IoRoomClient(await connected(`${url}/chat`, { auth: { uuid } }));
    },
  },
  {
    name: 'raw WebSocket /ws/chat (npm run sample:ws)',
    entry: 'main-ws.js',
    async open(url, token) {
      const uuid = await ticketFor(url, token, TICKET_PATH);
      return new WsRoomClient(await openedWs(`${url.replace(/^http/, 'ws')}/ws/chat?uuid=${uuid}`));
    },
  },
];

/** POSTs `/api/orders/:id/<action>` with a JSON body (a string is sent as it is) as `token`. */
export function postOrder(
  url: string,
  token: string | undefined,
  orderId: string,
  action: 'share' | 'unshare',
  body: unknown,
): Promise<Response> {
  return fetch(`${url}/api/orders/${orderId}/${action}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(ANSWER_WAIT_MS),
  });
}

/** Shares or unshares and fails unless the sample answers 204. */
export async function changeShare(
  url: string,
  token: string,
  orderId: string,
  action: 'share' | 'unshare',
  username: string,
): Promise<void> {
  const response = await postOrder(url, token, orderId, action, { username });
  if (response.status !== 204) {
    throw new Error(`${action} answered ${response.status}: ${await response.text()}`);
  }
}
