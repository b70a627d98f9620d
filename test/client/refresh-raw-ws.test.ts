import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { WebSocket as BrowserWebSocket } from 'undici-types';
import type { WebSocket } from 'ws';
import * as clientConstants from '../../lib/client/client.constants.js';
import {
  type AttachTicketRefreshOptions,
  attachTicketRefresh,
  fetchTicket,
  type TicketClientEvent,
  type TicketRefreshEvent,
  type TicketRefreshSocket,
  ticketProtocols,
} from '../../lib/client/index.js';
import { WS_TICKET_EXPIRING_EVENT, WS_TICKET_REFRESH_EVENT } from '../../lib/index.js';
import { signJwt } from '../support/jwt.js';
import { ConnectionLog, EchoWsGateway, ticketModule } from '../ws/fixtures/gateways.js';
import {
  ask,
  closeWs,
  closure,
  openedWs,
  type StartedWsApp,
  startWsApp,
} from '../ws/fixtures/ws-app.js';
import {
  LIFETIME,
  passed,
  sleep,
  tokens,
  until,
  WINDOW,
  withoutCause,
} from './fixtures/refresh.js';

describe('attachTicketRefresh: live session refresh on a raw WebSocket (real app)', {
  concurrency: true,
}, () => {
  let server: StartedWsApp;
  before(async () => {
    server = await startWsApp({
      imports: [ticketModule({ refreshWindow: WINDOW })],
      providers: [EchoWsGateway, ConnectionLog],
    });
  });
  after(() => server.close());

  /** Opens `/ws` with a ticket through `getToken` and attaches the helper; closed after `t`. */
  async function open(t: TestContext, getToken: () => string) {
    const options: AttachTicketRefreshOptions = {
      ticketUrl: `${server.url}/auth/ws-ticket`,
      getToken,
      retryDelay: { min: 100, max: 200 },
    };
    const { uuid } = await fetchTicket(options);
    const ws = await openedWs(`${server.wsUrl}/ws`, ticketProtocols(uuid));
    const closed = closure(ws);
    const events: TicketClientEvent[] = [];
    const refreshed: Array<number | null> = [];
    const handle = attachTicketRefresh(ws, {
      ...options,
      onRefused: (event) => events.push(event),
      onRefreshed: (expiresAt) => refreshed.push(expiresAt),
    });
    t.after(async () => {
      handle.detach();
      await closeWs(ws);
    });
    return { ws, closed, events, refreshed };
  }

  it('keeps the same socket open past its first token’s exp, reporting the later end', async (t) => {
    const alice = tokens('alice');
    const { ws, events, refreshed } = await open(t, () => alice.getToken());
    const firstEnd = alice.lastExp;

    await until(() => refreshed.length >= 1, 'a refresh');
    await passed(firstEnd + 1000);

    assert.equal(ws.readyState, ws.OPEN);
    assert.ok((refreshed[0] ?? 0) > firstEnd, `refreshed to ${refreshed[0]}`);
    assert.deepEqual(events, []);
    assert.deepEqual(await ask(ws, 'whoami'), { id: 'alice' });
  });

  it('stops on a token of another user: user_mismatch reported fatal, the server closes with 4003', async (t) => {
    const switching = tokens((call) => (call === 1 ? 'alice' : 'bob'));
    const { closed, events, refreshed } = await open(t, () => switching.getToken());

    assert.deepEqual(await closed, { code: 4003, reason: 'user_mismatch' });
    assert.deepEqual(withoutCause(events), [{ code: 'user_mismatch', fatal: true }]);
    assert.deepEqual(refreshed, []);
    assert.equal(switching.calls, 2);
  });
});

/** A WebSocket as far as the helper sees it, driven by the test. */
class FakeWs implements TicketRefreshSocket {
  readyState = 1;
  readonly sent: string[] = [];
  readonly closes: Array<[number | undefined, string | undefined]> = [];
  private readonly listeners = new Map<string, Set<(event: never) => void>>();

  send(data: string): void {
    this.sent.push(data);
  }
  close(code?: number, reason?: string): void {
    this.closes.push([code, reason]);
    this.readyState = 3;
    this.dispatch('close', { data: undefined });
  }
  addEventListener(type: string, listener: (event: never) => void): void {
    const set = this.listeners.get(type) ?? new Set();
    set.add(listener);
    this.listeners.set(type, set);
  }
  removeEventListener(type: string, listener: (event: never) => void): void {
    this.listeners.get(type)?.delete(listener);
  }
  dispatch(type: string, event: TicketRefreshEvent): void {
    for (const listener of [...(this.listeners.get(type) ?? [])]) {
      (listener as (event: TicketRefreshEvent) => void)(event);
    }
  }
  /** A frame from the server. */
  frame(data: unknown): void {
    this.dispatch('message', { data });
  }
}

describe('attachTicketRefresh: frames and failures (driven socket)', () => {
  const ticket = randomUUID();
  const ticketFetch: typeof fetch = async () =>
    new Response(JSON.stringify({ uuid: ticket, expiresIn: 30 }), { status: 201 });
  const expiring = (expiresAt: unknown) =>
    JSON.stringify({ event: 'ws-ticket:expiring', data: { expiresAt } });

  function driven(options: Partial<AttachTicketRefreshOptions> = {}) {
    const ws = new FakeWs();
    const state = { asked: 0, events: [] as TicketClientEvent[], refreshed: [] as unknown[] };
    const handle = attachTicketRefresh(ws, {
      ticketUrl: 'http://127.0.0.1:9/ticket',
      fetch: ticketFetch,
      getToken: () => {
        state.asked++;
        return signJwt({ sub: 'alice' }, { expiresIn: LIFETIME });
      },
      retryDelay: { min: 100, max: 100 },
      onRefused: (event) => state.events.push(event),
      onRefreshed: (expiresAt) => state.refreshed.push(expiresAt),
      ...options,
    });
    return { ws, state, handle };
  }

  it('repeats the server’s event names (the client imports nothing from it)', () => {
    assert.equal(clientConstants.TICKET_EXPIRING_EVENT, WS_TICKET_EXPIRING_EVENT);
    assert.equal(clientConstants.TICKET_REFRESH_EVENT, WS_TICKET_REFRESH_EVENT);
  });

  it('ignores frames that are not its own, without throwing or asking for a ticket', async () => {
    const { ws, state, handle } = driven();
    const padded = `{"pad":"${'x'.repeat(clientConstants.MAX_REFRESH_FRAME_LENGTH)}",${expiring(1).slice(1)}`;
    for (const data of [
      Buffer.from(expiring(Date.now() + 60_000)),
      new ArrayBuffer(8),
      '{"event":"ws-ticket:expiring"',
      padded,
      '["ws-ticket:expiring"]',
      'null',
      JSON.stringify({ event: 'chat', data: { text: '"ws-ticket:expiring"' } }),
      expiring('soon'),
      expiring(null),
      JSON.stringify({ event: 'ws-ticket:expiring', data: null }),
      JSON.stringify({ event: 'ws-ticket:refresh', data: { ok: true, expiresAt: 1 } }),
      undefined,
    ]) {
      ws.frame(data);
    }
    await sleep(100);
    assert.equal(state.asked, 0);
    assert.deepEqual(ws.sent, []);
    assert.deepEqual(state.events, []);
    assert.deepEqual(state.refreshed, []);
    handle.detach();
  });

  it('sends the ticket in a refresh frame and reports the answer’s end', async () => {
    const { ws, state, handle } = driven();
    ws.frame(expiring(Date.now() + 60_000));
    await until(() => ws.sent.length === 1, 'the refresh frame', 5000);
    assert.deepEqual(JSON.parse(ws.sent[0]), {
      event: 'ws-ticket:refresh',
      data: { uuid: ticket },
    });
    ws.frame(JSON.stringify({ event: 'ws-ticket:refresh', data: { ok: true, expiresAt: 42 } }));
    await until(() => state.refreshed.length === 1, 'the report', 5000);
    assert.deepEqual(state.refreshed, [42]);
    assert.deepEqual(state.events, []);
    handle.detach();
  });

  it('retries a retryable refusal, and ignores the late answer of a refresh that timed out', async () => {
    const { ws, state, handle } = driven({ requestTimeout: 300 });
    const answer = (data: unknown) =>
      ws.frame(JSON.stringify({ event: 'ws-ticket:refresh', data }));
    ws.frame(expiring(Date.now() + 60_000));
    await until(() => ws.sent.length === 1, 'the first refresh', 5000);
    answer({ ok: false, code: 'store_unavailable' });
    await until(() => ws.sent.length === 2, 'the second refresh', 5000);
    // Unanswered: times out, then its answer comes late, while the third waits.
    await until(() => ws.sent.length === 3, 'the third refresh', 5000);
    answer({ ok: false, code: 'user_mismatch' });
    answer({ ok: true, expiresAt: 7 });
    await until(() => state.refreshed.length === 1, 'the report', 5000);

    assert.deepEqual(withoutCause(state.events), [
      { code: 'store_unavailable', fatal: false },
      { code: 'ticket_refresh_failed', fatal: false },
    ]);
    assert.deepEqual(state.refreshed, [7]);
    assert.deepEqual(ws.closes, []);
    handle.detach();
  });

  it('stops and closes the socket on a fatal ticket request failure', async () => {
    const { ws, state } = driven({
      fetch: async () => new Response('', { status: 401 }),
    });
    ws.frame(expiring(Date.now() + 60_000));
    await until(() => state.events.length === 1, 'the report', 5000);
    assert.deepEqual(withoutCause(state.events), [
      { code: 'ticket_request_unauthorized', fatal: true, status: 401 },
    ]);
    assert.deepEqual(ws.closes, [[1000, 'ticket_request_unauthorized']]);
    ws.readyState = 1;
    ws.frame(expiring(Date.now() + 120_000));
    await sleep(100);
    assert.equal(state.asked, 1, 'a stopped helper asked again');
  });

  it('drops a refresh whose socket closed while the ticket was requested', async () => {
    let release!: (token: string) => void;
    const { ws, state } = driven({
      getToken: () => new Promise<string>((resolve) => (release = resolve)),
    });
    ws.frame(expiring(Date.now() + 60_000));
    await until(() => release !== undefined, 'the ticket request', 5000);
    ws.close(1000, 'bye');
    release(signJwt({ sub: 'alice' }));
    await sleep(100);
    assert.deepEqual(ws.sent, []);
    assert.deepEqual(state.events, []);
  });
});

/** Both kinds of sockets the helper is for type-check against its interface. */
export const acceptsWsSockets: (ws: WebSocket) => TicketRefreshSocket = (ws) => ws;
export const acceptsBrowserSockets: (ws: BrowserWebSocket) => TicketRefreshSocket = (ws) => ws;
