import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TicketClientEvent } from '../../lib/client/index.js';
import { answer, never } from '../support/hostile-http.js';
import { signJwt } from '../support/jwt.js';
import { hostileSuite, reportedEvents, sleep, warningsDuring } from './fixtures/watched-app.js';

/** The events without their `cause` (an error object from fetch or the validation). */
const reported = (events: TicketClientEvent[]) => events.map(({ cause: _, ...event }) => event);

/** How long the storm tests watch, in milliseconds: a bound on counts, never a timing claim. */
const WINDOW = 2500;

describe('attachTicketAuth against hostile ticket endpoints (real app, Socket.IO)', () => {
  const suite = hostileSuite();
  const { serve } = suite;
  const client = suite.client;
  const alice = () => signJwt({ sub: 'alice' });

  it('fails an endpoint that never answers after requestTimeout, then asks again', async () => {
    const server = await serve(never);
    const { socket, events } = client({
      ticketUrl: `${server.url}/ticket`,
      getToken: alice,
      requestTimeout: 200,
      retryDelay: { min: 100, max: 100 },
    });
    socket.connect();
    const first = await server.request(1);
    await server.request(2);
    await first.closed;
    assert.equal(first.abandoned, true, 'the timed-out request was left open');
    assert.equal(events[0].code, 'ticket_request_failed');
    assert.equal(events[0].fatal, false);
    assert.equal((events[0].cause as Error).name, 'TimeoutError');
    assert.equal(socket.connected, false);
  });

  it('makes at most 3 ticket requests in 2.5 s against 503 with Retry-After: 0.001', async () => {
    const server = await serve(answer(503, '', { 'retry-after': '0.001' }));
    const { socket, events } = client({
      ticketUrl: `${server.url}/ticket`,
      getToken: alice,
      retryDelay: { min: 1, max: 1 },
    });
    const warnings = await warningsDuring(async () => {
      socket.connect();
      await sleep(WINDOW);
    });
    assert.ok(server.requests.length >= 2, 'the helper stopped retrying');
    assert.ok(server.requests.length <= 3, `${server.requests.length} ticket requests`);
    assert.deepEqual(suite.app.adapter.seen, [], 'a handshake was sent without a ticket');
    assert.deepEqual(reported(events)[0], {
      code: 'ticket_request_failed',
      fatal: false,
      status: 503,
    });
    assert.deepEqual(warnings, []);
  });

  it('makes one ticket request in 2.5 s against 429 with Retry-After: 2200000, and no timer overflows', async () => {
    const server = await serve(answer(429, '', { 'retry-after': '2200000' }));
    const { socket, events } = client({ ticketUrl: `${server.url}/ticket`, getToken: alice });
    const warnings = await warningsDuring(async () => {
      socket.connect();
      await sleep(WINDOW);
    });
    assert.equal(server.requests.length, 1);
    assert.deepEqual(suite.app.adapter.seen, [], 'a handshake was sent without a ticket');
    assert.deepEqual(reported(events), [
      { code: 'ticket_request_failed', fatal: false, status: 429 },
    ]);
    assert.ok(!warnings.includes('TimeoutOverflowWarning'), warnings.join());
  });

  it("refuses a cross-origin redirect to bob's ticket: alice's socket is never logged in as bob", async () => {
    const evil = await serve(suite.app.forward('bob'));
    const server = await serve(answer(302, '', { location: `${evil.url}/ticket` }));
    const { socket, events } = client({ ticketUrl: `${server.url}/ticket`, getToken: alice });
    socket.connect();
    await reportedEvents(events);
    assert.deepEqual(reported(events), [{ code: 'ticket_request_failed', fatal: false }]);
    assert.equal(evil.requests.length, 0, 'the redirect was followed');
    assert.deepEqual(suite.app.adapter.seen, []);
    assert.equal(socket.connected, false);
  });

  it('refuses a same-origin redirect: the redirect target never receives the bearer token', async () => {
    const redirect = answer(307, '', { location: '/elsewhere' });
    const server = await serve((req, res, request) =>
      req.url === '/elsewhere'
        ? suite.app.forward('alice')(req, res, request)
        : redirect(req, res, request),
    );
    const { socket, events } = client({ ticketUrl: `${server.url}/ticket`, getToken: alice });
    socket.connect();
    await reportedEvents(events);
    assert.deepEqual(reported(events), [{ code: 'ticket_request_failed', fatal: false }]);
    assert.deepEqual(
      server.requests.map((request) => request.path),
      ['/ticket'],
    );
  });

  it('does not send a 2 MB uuid into the handshake', async () => {
    const server = await serve(answer(201, { uuid: 'a'.repeat(2 * 1024 * 1024), expiresIn: 30 }));
    const { socket, events } = client({ ticketUrl: `${server.url}/ticket`, getToken: alice });
    socket.connect();
    await reportedEvents(events);
    assert.deepEqual(reported(events), [
      { code: 'ticket_request_failed', fatal: false, status: 201 },
    ]);
    assert.deepEqual(suite.app.adapter.seen, []);
  });

  it('reports a throwing getToken as ticket_request_failed with its error, and backs off', async () => {
    const server = await serve(never);
    const error = new Error('token refresh failed');
    let calls = 0;
    const { socket, events } = client({
      ticketUrl: `${server.url}/ticket`,
      getToken: () => {
        calls++;
        throw error;
      },
      retryDelay: { min: 100, max: 10_000 },
    });
    socket.connect();
    await sleep(1600);
    // Exponential from 100 ms: at most 6 attempts fit in 1.6 s (16 at a flat 100 ms).
    assert.ok(calls >= 3, `${calls} attempts: the helper stopped`);
    assert.ok(calls <= 6, `${calls} attempts in 1.6 s: no backoff`);
    assert.ok(events.length > 0);
    for (const event of events) {
      assert.deepEqual(event, { code: 'ticket_request_failed', fatal: false, cause: error });
    }
    assert.equal(server.requests.length, 0);
  });
});
