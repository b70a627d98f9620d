import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import { io, Manager, type Socket } from 'socket.io-client';
import {
  type AttachTicketAuthOptions,
  attachTicketAuth,
  type TicketClientEvent,
} from '../../lib/client/index.js';
import { WsTicketModule } from '../../lib/index.js';
import { ChatTestGateway, NotificationsTestGateway } from '../fixtures/gateways.js';
import { type StartedApp, startApp } from '../support/app.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { ask } from '../support/sockets.js';
import {
  LIFETIME,
  passed,
  sleep,
  tokens,
  until,
  WAIT,
  WINDOW,
  withoutCause,
} from './fixtures/refresh.js';

/** How long a test watches for a reconnect or a report that must not come, in milliseconds. */
const QUIET = 1500;

interface RefreshClient {
  socket: Socket;
  /** What `onRefused` reported. */
  events: TicketClientEvent[];
  /** What `onRefreshed` reported. */
  refreshed: Array<number | null>;
  /** The socket id of every `connect`. */
  connects: string[];
}

describe('attachTicketAuth: live session refresh (real app, Socket.IO)', {
  concurrency: true,
}, () => {
  let app: StartedApp;
  before(async () => {
    app = await startApp({
      imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, refreshWindow: WINDOW })],
      providers: [ChatTestGateway, NotificationsTestGateway],
    });
  });
  after(() => app.close());

  /** A helper-wired socket (its own Manager unless given one), not connected; closed after `t`. */
  function client(
    t: TestContext,
    getToken: () => string,
    extra: Partial<AttachTicketAuthOptions> = {},
    socket: Socket = io(`${app.url}/chat`, {
      transports: ['websocket'],
      autoConnect: false,
      forceNew: true,
      reconnectionDelay: 100,
      reconnectionDelayMax: 200,
    }),
  ): RefreshClient {
    const created: RefreshClient = { socket, events: [], refreshed: [], connects: [] };
    socket.on('connect', () => created.connects.push(socket.id ?? ''));
    const handle = attachTicketAuth(socket, {
      ticketUrl: `${app.url}/auth/ws-ticket`,
      getToken,
      retryDelay: { min: 100, max: 200 },
      onRefused: (event) => created.events.push(event),
      onRefreshed: (expiresAt) => created.refreshed.push(expiresAt),
      ...extra,
    });
    t.after(() => {
      handle.detach();
      socket.close();
    });
    return created;
  }

  it('keeps the socket past its first token’s exp, same id, no reconnect, reporting the later end', async (t) => {
    const alice = tokens('alice');
    const chat = client(t, () => alice.getToken());
    chat.socket.connect();
    await until(() => chat.connects.length === 1, 'the connection');
    const firstEnd = alice.lastExp;

    await until(() => chat.refreshed.length >= 1, 'a refresh');
    await passed(firstEnd + 1000);

    assert.equal(chat.socket.connected, true);
    assert.deepEqual(chat.connects, [chat.socket.id], 'the socket reconnected');
    assert.ok((chat.refreshed[0] ?? 0) > firstEnd, `refreshed to ${chat.refreshed[0]}`);
    assert.deepEqual(chat.events, []);
    assert.equal(((await ask(chat.socket, 'whoami')) as { sub: string }).sub, 'alice');
  });

  it('stops on a token of another user: user_mismatch reported fatal, socket disconnected, no reconnect', async (t) => {
    const switching = tokens((call) => (call === 1 ? 'alice' : 'bob'));
    const chat = client(t, () => switching.getToken());
    chat.socket.connect();
    await until(() => chat.connects.length === 1, 'the connection');

    await until(() => chat.events.length >= 1, 'a report');
    await sleep(QUIET);

    assert.deepEqual(withoutCause(chat.events), [{ code: 'user_mismatch', fatal: true }]);
    assert.equal(chat.socket.connected, false);
    assert.equal(chat.socket.active, false, 'the helper did not stop');
    assert.equal(chat.connects.length, 1, 'the helper reconnected');
    assert.equal(switching.calls, 2, 'the helper asked for another ticket');
    assert.deepEqual(chat.refreshed, []);
  });

  it('retries a refresh whose getToken threw once, then refreshes the same socket', async (t) => {
    const alice = tokens('alice');
    let calls = 0;
    const chat = client(t, () => {
      // The second call is the first refresh's.
      if (++calls === 2) throw new Error('token service down');
      return alice.getToken();
    });
    chat.socket.connect();
    await until(() => chat.connects.length === 1, 'the connection');

    await until(() => chat.refreshed.length >= 1, 'a refresh');

    assert.deepEqual(withoutCause(chat.events), [{ code: 'ticket_request_failed', fatal: false }]);
    const { cause } = chat.events[0] ?? {};
    assert.ok(cause instanceof Error && /token service down/.test(cause.message), String(cause));
    assert.equal(chat.socket.connected, true);
    assert.deepEqual(chat.connects, [chat.socket.id]);
  });

  it('retries a refresh the server refused with ticket_invalid, then refreshes the same socket', async (t) => {
    const alice = tokens('alice');
    let requests = 0;
    const chat = client(t, () => alice.getToken(), {
      // The second ticket request (the first refresh) gets a ticket the server never issued.
      fetch: async (input, init) =>
        ++requests === 2
          ? new Response(JSON.stringify({ uuid: randomUUID(), expiresIn: 30 }), { status: 201 })
          : fetch(input, init),
    });
    chat.socket.connect();
    await until(() => chat.connects.length === 1, 'the connection');

    await until(() => chat.refreshed.length >= 1, 'a refresh');

    assert.deepEqual(chat.events, [{ code: 'ticket_invalid', fatal: false }]);
    assert.equal(chat.socket.connected, true);
    assert.deepEqual(chat.connects, [chat.socket.id]);
  });

  it('falls back to a reconnect with a fresh ticket when no refresh succeeds before the end', async (t) => {
    const alice = tokens('alice');
    let failing = false;
    const chat = client(t, () => {
      if (failing) throw new Error('token service down');
      return alice.getToken();
    });
    // After the helper's own listeners: the helper's reconnect comes later, on a timer.
    chat.socket.on('connect', () => {
      failing = chat.connects.length === 1;
    });
    chat.socket.on('disconnect', () => {
      failing = false;
    });
    chat.socket.connect();

    await until(() => chat.connects.length === 2, 'the reconnect');

    const codes = chat.events.map((event) => `${event.code}${event.fatal ? ' (fatal)' : ''}`);
    assert.ok(codes.length >= 2, `reports: ${codes.join(', ')}`);
    assert.deepEqual(new Set(codes.slice(0, -1)), new Set(['ticket_request_failed']), `${codes}`);
    assert.equal(codes.at(-1), 'session_expired');
    assert.notEqual(chat.connects[0], chat.connects[1]);
    assert.equal(chat.socket.connected, true);
    assert.deepEqual(chat.refreshed, []);
  });

  it('makes one ticket request per expiring round for two namespaces on one Manager; both survive', async (t) => {
    const manager = new Manager(app.url, {
      transports: ['websocket'],
      autoConnect: false,
      reconnectionDelay: 100,
      reconnectionDelayMax: 200,
    });
    const alice = tokens('alice');
    const chat = client(t, () => alice.getToken(), {}, manager.socket('/chat'));
    const notes = client(t, () => alice.getToken(), {}, manager.socket('/notifications'));
    chat.socket.connect();
    notes.socket.connect();
    await until(
      () => chat.connects.length === 1 && notes.connects.length === 1,
      'both connections',
    );
    const handshakeRequests = alice.calls;
    const firstEnd = alice.lastExp;

    await until(() => chat.refreshed.length >= 1 && notes.refreshed.length >= 1, 'both refreshed');
    assert.equal(alice.calls, handshakeRequests + 1, 'ticket requests of the first round');
    assert.equal(chat.refreshed[0], notes.refreshed[0]);
    await passed(firstEnd + 1000);

    assert.equal(chat.socket.connected && notes.socket.connected, true);
    assert.deepEqual(chat.connects, [chat.socket.id]);
    assert.deepEqual(notes.connects, [notes.socket.id]);
    assert.deepEqual([...chat.events, ...notes.events], []);
  });
});

/** The parts of a socket.io-client socket the helper uses, driven by the test. */
class FakeSocket {
  auth: unknown;
  active = true;
  readonly io = {};
  /** Every `emit` of the helper. */
  readonly emitted: Array<{ event: string; args: unknown[] }> = [];
  private readonly listeners = new Map<string, Set<(...args: unknown[]) => void>>();

  on(event: string, listener: (...args: unknown[]) => void): void {
    const set = this.listeners.get(event) ?? new Set();
    set.add(listener);
    this.listeners.set(event, set);
  }
  off(event: string, listener: (...args: unknown[]) => void): void {
    this.listeners.get(event)?.delete(listener);
  }
  emit(event: string, ...args: unknown[]): void {
    this.emitted.push({ event, args });
  }
  connect(): void {
    this.active = true;
  }
  disconnect(): void {
    this.active = false;
    this.fire('disconnect', 'io client disconnect');
  }
  /** What the server (or socket.io-client) would make the socket emit to its listeners. */
  fire(event: string, ...args: unknown[]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) listener(...args);
  }
  refreshes(): Array<{ event: string; args: unknown[] }> {
    return this.emitted.filter(({ event }) => event === 'ws-ticket:refresh');
  }
}

describe('attachTicketAuth: refresh work that must be dropped (driven socket)', () => {
  const ticket = randomUUID();
  const ticketFetch: typeof fetch = async () =>
    new Response(JSON.stringify({ uuid: ticket, expiresIn: 30 }), { status: 201 });

  /** A helper on a driven socket whose getToken waits until `release()`; `asked` once called. */
  function heldClient(extra: Partial<AttachTicketAuthOptions> = {}) {
    const socket = new FakeSocket();
    const events: TicketClientEvent[] = [];
    let release!: () => void;
    const held = new Promise<string>((resolve) => {
      release = () => resolve(signJwt({ sub: 'alice' }, { expiresIn: LIFETIME }));
    });
    const state = { asked: 0 };
    const handle = attachTicketAuth(socket, {
      ticketUrl: 'http://127.0.0.1:9/ticket',
      fetch: ticketFetch,
      getToken: () => {
        state.asked++;
        return held;
      },
      onRefused: (event) => events.push(event),
      ...extra,
    });
    socket.fire('connect');
    socket.fire('ws-ticket:expiring', { expiresAt: Date.now() + 60_000 });
    return { socket, events, handle, release, state };
  }

  it('drops a refresh whose socket disconnected while the ticket was requested', async () => {
    const { socket, events, release, state, handle } = heldClient();
    await until(() => state.asked === 1, 'the ticket request', 5000);
    socket.fire('disconnect', 'transport close');
    release();
    await sleep(200);
    assert.deepEqual(socket.refreshes(), []);
    assert.deepEqual(events, []);
    handle.detach();
  });

  it('cancels a refresh under way on detach()', async () => {
    const { socket, events, release, state, handle } = heldClient();
    await until(() => state.asked === 1, 'the ticket request', 5000);
    handle.detach();
    release();
    await sleep(200);
    assert.deepEqual(socket.refreshes(), []);
    assert.deepEqual(events, []);
  });

  it('gives up on an unanswered refresh after requestTimeout, reports it and sends the next one', async () => {
    const refreshed: Array<number | null> = [];
    const { socket, events, release, handle } = heldClient({
      requestTimeout: 300,
      retryDelay: { min: 100, max: 100 },
      onRefreshed: (expiresAt) => refreshed.push(expiresAt),
    });
    release();
    await until(() => socket.refreshes().length === 2, 'a second refresh', 5000);
    const [first, second] = socket.refreshes();
    assert.deepEqual(first.args[0], { uuid: ticket });
    const ack = second.args[1] as (answer: unknown) => void;
    ack({ ok: true, expiresAt: 1234 });
    // The first refresh's answer, late: ignored.
    (first.args[1] as (answer: unknown) => void)({ ok: false, code: 'user_mismatch' });
    await sleep(50);

    assert.deepEqual(withoutCause(events), [{ code: 'ticket_refresh_failed', fatal: false }]);
    const { cause } = events[0] ?? {};
    assert.ok(cause instanceof DOMException && cause.name === 'TimeoutError', String(cause));
    assert.deepEqual(refreshed, [1234]);
    assert.equal(socket.active, true);
    handle.detach();
  });
});

// Keeps the shared numbers honest: a session must outlive the window by a margin for a refresh.
assert.ok(LIFETIME - WINDOW >= 2 && WAIT > LIFETIME * 2000);
