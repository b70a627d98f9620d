import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fetchTicket, ticketAuth, ticketProtocols } from '../../lib/client/index.js';
import { WS_TICKET_PROTOCOL } from '../../lib/index.js';
import { answer, hostileServer, ticketBody } from '../support/hostile-http.js';

describe('Client helper options checked at construction', () => {
  const shapes: Array<[string, ConstructorParameters<typeof Headers>[0]]> = [
    ['a plain object', { Authorization: 'Basic YWxpY2U6cHc=' }],
    ['a lowercase key', { authorization: 'Basic YWxpY2U6cHc=' }],
    ['an uppercase key', { AUTHORIZATION: 'Basic YWxpY2U6cHc=' }],
    [
      'an array of pairs',
      [
        ['x-app', '1'],
        ['AuThOrIzAtIoN', 'Basic YWxpY2U6cHc='],
      ],
    ],
    ['a Headers object', new Headers({ Authorization: 'Basic YWxpY2U6cHc=' })],
  ];
  for (const [shape, headers] of shapes) {
    it(`refuses an Authorization header in requestInit.headers as ${shape}`, () => {
      const options = { ticketUrl: '/t', getToken: () => 't', requestInit: { headers } };
      for (const create of [() => ticketAuth(options), () => fetchTicket(options)]) {
        assert.throws(create, (error: unknown) => {
          assert.ok(error instanceof TypeError);
          assert.match(error.message, /Authorization.*getToken/s);
          return true;
        });
      }
    });
  }

  it('sends exactly one Authorization, the bearer, when the app adds one to its Headers later', async () => {
    const server = await hostileServer(answer(201, ticketBody()));
    try {
      const headers = new Headers({ 'x-app': '1' });
      const auth = ticketAuth({
        ticketUrl: server.url,
        getToken: () => 'tok',
        requestInit: { headers },
      });
      headers.append('Authorization', 'Basic YWxpY2U6cHc=');
      await new Promise((resolve) => auth(resolve));
      assert.deepEqual(server.requests[0].authorization, ['Bearer tok']);
    } finally {
      await server.close();
    }
  });

  it('refuses a requestTimeout that is not a positive number of milliseconds', () => {
    for (const requestTimeout of [0, -1, Number.NaN]) {
      assert.throws(
        () => ticketAuth({ ticketUrl: '/t', getToken: () => 't', requestTimeout }),
        TypeError,
      );
    }
  });

  it('builds the Sec-WebSocket-Protocol entries of a ticket, and refuses anything else', () => {
    const uuid = crypto.randomUUID();
    assert.deepEqual(ticketProtocols(uuid), [WS_TICKET_PROTOCOL, `${WS_TICKET_PROTOCOL}.${uuid}`]);
    for (const bad of ['', 'x', uuid.toUpperCase(), `${uuid}, other`]) {
      assert.throws(() => ticketProtocols(bad), TypeError);
    }
  });
});
