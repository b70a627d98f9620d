import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  fetchTicket,
  TicketRequestFailure,
  type TicketRequestOptions,
} from '../../lib/client/index.js';
import {
  answer,
  type HostileHandler,
  type HostileServer,
  hostileServer,
  hugeBody,
  never,
  ticketBody,
} from '../support/hostile-http.js';

const MB = 1024 * 1024;

/** Resolves the failure a promise rejects with, failing the test if it resolves. */
async function failure(promise: Promise<unknown>): Promise<TicketRequestFailure> {
  const outcome = await promise.then(
    () => assert.fail('the ticket request succeeded'),
    (error: unknown) => error,
  );
  assert.ok(outcome instanceof TicketRequestFailure, `rejected with ${String(outcome)}`);
  return outcome;
}

describe('fetchTicket against hostile ticket endpoints', () => {
  const servers: HostileServer[] = [];
  const serve = async (handler: HostileHandler) => {
    const server = await hostileServer(handler);
    servers.push(server);
    return server;
  };
  const options = (server: HostileServer, extra: Partial<TicketRequestOptions> = {}) => ({
    ticketUrl: `${server.url}/ticket`,
    getToken: () => 'token-a',
    ...extra,
  });
  after(() => Promise.all(servers.map((server) => server.close())));

  it('resolves the uuid and expiresIn of a well-formed answer, sending one bearer token by POST', async () => {
    const body = ticketBody();
    const server = await serve(answer(201, body));
    assert.deepEqual(await fetchTicket(options(server)), body);
    assert.equal(server.requests[0].method, 'POST');
    assert.deepEqual(server.requests[0].authorization, ['Bearer token-a']);
  });

  it('gives up on an endpoint that never answers after requestTimeout, closing the request', async () => {
    const server = await serve(never);
    const failed = await failure(fetchTicket(options(server, { requestTimeout: 200 })));
    assert.equal(failed.code, 'ticket_request_failed');
    assert.equal(failed.status, undefined);
    assert.equal((failed.cause as Error).name, 'TimeoutError');
    await server.requests[0].closed;
    assert.equal(server.requests[0].abandoned, true);
  });

  it('aborts the request when the caller aborts its signal, the reason kept as cause', async () => {
    const server = await serve(never);
    const controller = new AbortController();
    const pending = fetchTicket(options(server), controller.signal);
    await server.request(1);
    const reason = new Error('superseded');
    controller.abort(reason);
    const failed = await failure(pending);
    assert.equal(failed.code, 'ticket_request_failed');
    assert.equal(failed.cause, reason);
    await server.requests[0].closed;
    assert.equal(server.requests[0].abandoned, true);
  });

  for (const status of [301, 302, 303, 307, 308]) {
    it(`refuses a same-origin ${status} redirect: the target never receives a request`, async () => {
      const redirect = answer(status, '', { location: '/elsewhere' });
      const ticket = answer(201, ticketBody());
      const server = await serve((req, res, request) =>
        (req.url === '/ticket' ? redirect : ticket)(req, res, request),
      );
      const failed = await failure(fetchTicket(options(server)));
      assert.equal(failed.code, 'ticket_request_failed');
      assert.deepEqual(
        server.requests.map((request) => request.path),
        ['/ticket'],
      );
    });
  }

  it('refuses a cross-origin redirect: the other origin never sees a request or the token', async () => {
    const other = await serve(answer(201, ticketBody()));
    const server = await serve(answer(302, '', { location: `${other.url}/ticket` }));
    const failed = await failure(fetchTicket(options(server)));
    assert.equal(failed.code, 'ticket_request_failed');
    assert.equal(other.requests.length, 0);
  });

  it('reports a 3xx that a custom fetch hands back as ticket_request_failed with that status', async () => {
    const redirecting: typeof fetch = async () =>
      new Response(null, { status: 307, headers: { location: 'https://evil.example/' } });
    const failed = await failure(
      fetchTicket({ ticketUrl: '/ticket', getToken: () => 't', fetch: redirecting }),
    );
    assert.equal(failed.code, 'ticket_request_failed');
    assert.equal(failed.status, 307);
  });

  it('fails with ticket_request_failed when a custom fetch resolves something else than a Response', async () => {
    const broken = (async () => undefined) as unknown as typeof fetch;
    const failed = await failure(
      fetchTicket({ ticketUrl: '/t', getToken: () => 't', fetch: broken }),
    );
    assert.deepEqual([failed.code, failed.status], ['ticket_request_failed', undefined]);
  });

  for (const [what, declared] of [
    ['stops reading a 300 MB chunked body after a few KiB', false],
    ['refuses a Content-Length over the cap before reading the body', true],
  ] as const) {
    it(`${what} and closes the connection`, async () => {
      const body = hugeBody(300 * MB, declared);
      const server = await serve(body);
      const failed = await failure(fetchTicket(options(server)));
      assert.equal(failed.code, 'ticket_request_failed');
      assert.equal(failed.status, 201);
      await server.requests[0].closed;
      assert.equal(server.requests[0].abandoned, true);
      assert.ok(body.written() < 32 * MB, `the server wrote ${body.written()} bytes`);
    });
  }

  const notTickets: Array<[string, string]> = [
    ['a uuid that is not a UUID', JSON.stringify({ uuid: 'not-a-uuid', expiresIn: 30 })],
    [
      'an uppercase UUID',
      JSON.stringify({ uuid: crypto.randomUUID().toUpperCase(), expiresIn: 30 }),
    ],
    ['a v1 UUID', JSON.stringify({ uuid: 'c232ab00-9414-11ec-b3c8-9e6bdeced846', expiresIn: 30 })],
    ['a 2 MB uuid', JSON.stringify({ uuid: 'a'.repeat(2 * MB), expiresIn: 30 })],
    ['a numeric uuid', JSON.stringify({ uuid: 42, expiresIn: 30 })],
    ['a negative expiresIn', JSON.stringify(ticketBody(undefined, -30))],
    ['a zero expiresIn', JSON.stringify(ticketBody(undefined, 0))],
    ['a NaN expiresIn (null in JSON)', JSON.stringify(ticketBody(undefined, Number.NaN))],
    ['an infinite expiresIn', `{"uuid":"${crypto.randomUUID()}","expiresIn":1e999}`],
    ['a string expiresIn', JSON.stringify({ uuid: crypto.randomUUID(), expiresIn: '30' })],
    ['no expiresIn', JSON.stringify({ uuid: crypto.randomUUID() })],
    ['a body that is not JSON', 'uuid=0f8fad5b-d9cb-469f-a165-70867728950e'],
    ['an empty body', ''],
    ['a JSON array', JSON.stringify([ticketBody()])],
    ['JSON null', 'null'],
  ];
  for (const [what, body] of notTickets) {
    it(`answers ticket_request_failed with the status for ${what}`, async () => {
      const server = await serve(answer(201, body));
      const failed = await failure(fetchTicket(options(server)));
      assert.equal(failed.code, 'ticket_request_failed');
      assert.equal(failed.status, 201);
      assert.ok(!failed.message.includes('aaaa'), 'the message quotes the body');
    });
  }

  it('never quotes the body in the failure or its cause', async () => {
    const ticket = crypto.randomUUID();
    const server = await serve(answer(201, `ticket=${ticket}; this is not JSON`));
    const failed = await failure(fetchTicket(options(server)));
    assert.equal(failed.status, 201);
    for (const text of [failed.message, String(failed.cause), (failed.cause as Error).stack]) {
      assert.ok(!text?.includes(ticket.slice(0, 8)), `quoted: ${text}`);
    }
  });

  it('refuses a body that is not UTF-8', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
    });
    assert.equal((await failure(fetchTicket(options(server)))).status, 201);
  });

  for (const [sent, seconds] of [
    ['2200000', 300],
    ['0.001', 1],
    ['0', 1],
    ['-5', 1],
    ['42', 42],
  ] as const) {
    it(`clamps Retry-After: ${sent} to ${seconds} s`, async () => {
      const server = await serve(answer(503, '', { 'retry-after': sent }));
      const failed = await failure(fetchTicket(options(server)));
      assert.deepEqual(
        [failed.code, failed.status, failed.retryAfter],
        ['ticket_request_failed', 503, seconds],
      );
    });
  }

  it('reads a Retry-After HTTP date, and ignores one it cannot read', async () => {
    const inAMinute = new Date(Date.now() + 60_000).toUTCString();
    const dated = await serve(answer(429, '', { 'retry-after': inAMinute }));
    const retryAfter = (await failure(fetchTicket(options(dated)))).retryAfter ?? 0;
    assert.ok(retryAfter > 50 && retryAfter <= 60, `retryAfter ${retryAfter}`);
    const garbled = await serve(answer(429, '', { 'retry-after': 'soon' }));
    assert.equal((await failure(fetchTicket(options(garbled)))).retryAfter, undefined);
  });

  it('keeps 401 and 403 fatal (ticket_request_unauthorized) with their status', async () => {
    for (const status of [401, 403]) {
      const server = await serve(answer(status, { code: 'bearer_invalid' }));
      const failed = await failure(fetchTicket(options(server)));
      assert.deepEqual([failed.code, failed.status], ['ticket_request_unauthorized', status]);
    }
  });

  it('fails with ticket_request_failed, the error as cause, when getToken throws, and sends nothing', async () => {
    const server = await serve(answer(201, ticketBody()));
    const error = new Error('refresh failed');
    for (const getToken of [
      () => {
        throw error;
      },
      () => Promise.reject(error),
    ]) {
      const failed = await failure(fetchTicket(options(server, { getToken })));
      assert.equal(failed.code, 'ticket_request_failed');
      assert.equal(failed.cause, error);
    }
    assert.equal(server.requests.length, 0);
  });

  it('bounds a getToken that never settles by requestTimeout', async () => {
    const failed = await failure(
      fetchTicket({
        ticketUrl: 'http://127.0.0.1:9/ticket',
        getToken: () => new Promise<string>(() => {}),
        requestTimeout: 100,
      }),
    );
    assert.equal(failed.code, 'ticket_request_failed');
    assert.equal((failed.cause as Error).name, 'TimeoutError');
  });
});
