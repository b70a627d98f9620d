import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fetchTicket, TicketRequestFailure } from '../../lib/client/index.js';
import { answer, hostileServer, ticketBody } from '../support/hostile-http.js';
import { signJwt } from '../support/jwt.js';
import { hostileSuite, reportedEvents, sleep } from './fixtures/watched-app.js';

/** The events without their `cause`. */
const withoutCause = <T extends { cause?: unknown }>(events: T[]) =>
  events.map(({ cause: _, ...event }) => event);

/** How long a test watches for a retry that must not come, in milliseconds. */
const QUIET = 800;

async function rejection(promise: Promise<unknown>): Promise<TicketRequestFailure> {
  const outcome = await promise.then(
    () => assert.fail('the ticket request succeeded'),
    (error: unknown) => error,
  );
  assert.ok(outcome instanceof TicketRequestFailure, `rejected with ${String(outcome)}`);
  return outcome;
}

describe('fetchTicket: what a retry cannot fix is fatal', () => {
  for (const status of [400, 404, 405, 410, 413, 422]) {
    it(`rejects ${status} with ticket_request_rejected, fatal, with the status`, async () => {
      const server = await hostileServer(answer(status, '{"message":"Cannot POST /ticket"}'));
      try {
        const failed = await rejection(
          fetchTicket({ ticketUrl: `${server.url}/ticket`, getToken: () => 't' }),
        );
        assert.deepEqual(
          [failed.code, failed.fatal, failed.status, failed.message],
          ['ticket_request_rejected', true, status, `ticket_request_rejected (HTTP ${status})`],
        );
      } finally {
        await server.close();
      }
    });
  }

  for (const status of [408, 425, 429, 500, 502, 503]) {
    it(`keeps ${status} retryable (ticket_request_failed, not fatal)`, async () => {
      const server = await hostileServer(answer(status, '', { 'retry-after': '3' }));
      try {
        const failed = await rejection(
          fetchTicket({ ticketUrl: `${server.url}/ticket`, getToken: () => 't' }),
        );
        assert.deepEqual(
          [failed.code, failed.fatal, failed.status, failed.retryAfter],
          ['ticket_request_failed', false, status, 3],
        );
      } finally {
        await server.close();
      }
    });
  }

  it('keeps 401 and 403 fatal as ticket_request_unauthorized', async () => {
    for (const status of [401, 403]) {
      const server = await hostileServer(answer(status, ''));
      try {
        const failed = await rejection(
          fetchTicket({ ticketUrl: `${server.url}/ticket`, getToken: () => 't' }),
        );
        assert.deepEqual([failed.code, failed.fatal], ['ticket_request_unauthorized', true]);
      } finally {
        await server.close();
      }
    }
  });

  const badUrls: Array<[string, string, RegExp]> = [
    ['a relative URL in Node (no page to resolve it against)', '/api/auth/ws-ticket', /relative/],
    ['an unparseable URL', 'http://[::1', /not a URL/],
    ['a ws:// URL', 'ws://127.0.0.1:1/auth/ws-ticket', /http: or https:/],
  ];
  for (const [what, ticketUrl, reason] of badUrls) {
    it(`rejects ${what} with ticket_url_invalid before calling getToken`, async () => {
      let asked = 0;
      const failed = await rejection(
        fetchTicket({
          ticketUrl,
          getToken: () => {
            asked++;
            return 't';
          },
        }),
      );
      assert.deepEqual(
        [failed.code, failed.fatal, failed.status],
        ['ticket_url_invalid', true, undefined],
      );
      assert.ok(failed.cause instanceof TypeError);
      assert.match(failed.cause.message, reason);
      assert.equal(asked, 0);
    });
  }

  it('hands a relative URL to a custom fetch, which may resolve it', async () => {
    const seen: string[] = [];
    const custom: typeof fetch = async (input) => {
      seen.push(String(input));
      return new Response(JSON.stringify(ticketBody()), { status: 201 });
    };
    await fetchTicket({ ticketUrl: '/api/auth/ws-ticket', getToken: () => 't', fetch: custom });
    assert.deepEqual(seen, ['/api/auth/ws-ticket']);
  });

  it('refuses an unparseable URL even with a custom fetch', async () => {
    const failed = await rejection(
      fetchTicket({
        ticketUrl: 'http://[::1',
        getToken: () => 't',
        fetch: async () => new Response(),
      }),
    );
    assert.equal(failed.code, 'ticket_url_invalid');
  });
});

describe('attachTicketAuth: stops on fatal ticket failures, never sends a ticketless handshake', () => {
  const suite = hostileSuite();
  const alice = () => signJwt({ sub: 'alice' });

  for (const status of [404, 405, 400]) {
    it(`stops after one request on ${status}: no retry, no handshake, the socket inactive`, async () => {
      const server = await suite.serve(answer(status, 'Not Found'));
      const { socket, events } = suite.client({
        ticketUrl: `${server.url}/ticket`,
        getToken: alice,
        retryDelay: { min: 100, max: 100 },
      });
      socket.connect();
      await reportedEvents(events);
      await sleep(QUIET);
      assert.deepEqual(withoutCause(events), [
        { code: 'ticket_request_rejected', fatal: true, status },
      ]);
      assert.equal(server.requests.length, 1, 'the helper asked again');
      assert.deepEqual(suite.app.adapter.seen, [], 'a handshake was sent without a ticket');
      assert.deepEqual(suite.app.adapter.connectsTo('/chat'), [], 'a CONNECT packet was sent');
      assert.equal(socket.active, false);
    });
  }

  it('stops on a relative ticketUrl in Node, reporting ticket_url_invalid with its cause', async () => {
    let asked = 0;
    const { socket, events } = suite.client({
      ticketUrl: '/auth/ws-ticket',
      getToken: () => {
        asked++;
        return alice();
      },
    });
    socket.connect();
    await reportedEvents(events);
    await sleep(QUIET);
    assert.equal(events.length, 1);
    assert.deepEqual(withoutCause(events), [{ code: 'ticket_url_invalid', fatal: true }]);
    assert.ok(events[0].cause instanceof TypeError);
    assert.equal(asked, 0);
    assert.deepEqual(suite.app.adapter.seen, []);
    assert.equal(socket.active, false);
  });

  it('backs off on 500 and sends no handshake until a ticket comes, then connects', async () => {
    let failures = 2;
    const server = await suite.serve((req, res, request) =>
      failures-- > 0
        ? answer(500, '')(req, res, request)
        : suite.app.forward('alice')(req, res, request),
    );
    const { socket, events } = suite.client({
      ticketUrl: `${server.url}/ticket`,
      getToken: alice,
      retryDelay: { min: 100, max: 100 },
    });
    const connected = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.connect();
    await connected;
    assert.deepEqual(withoutCause(events), [
      { code: 'ticket_request_failed', fatal: false, status: 500 },
      { code: 'ticket_request_failed', fatal: false, status: 500 },
    ]);
    assert.equal(server.requests.length, 3);
    assert.equal(suite.app.adapter.seen.length, 1, 'one handshake, the one with the ticket');
    assert.equal(typeof suite.app.adapter.seen[0], 'string');
  });

  it('retries 429 after its Retry-After without a handshake in between', async () => {
    const server = await suite.serve(answer(429, '', { 'retry-after': '1' }));
    const { socket, events } = suite.client({
      ticketUrl: `${server.url}/ticket`,
      getToken: alice,
      retryDelay: { min: 100, max: 100 },
    });
    socket.connect();
    await server.request(2, 3000);
    assert.deepEqual(withoutCause(events)[0], {
      code: 'ticket_request_failed',
      fatal: false,
      status: 429,
    });
    assert.deepEqual(suite.app.adapter.seen, []);
  });
});
