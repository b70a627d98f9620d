import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  fetchTicket,
  MAX_TICKET_RESPONSE_BYTES,
  MAX_TICKET_RETRY_AFTER,
  MIN_TICKET_RETRY_AFTER,
  TicketRequestFailure,
  ticketAuth,
} from '../../lib/client/index.js';
import { TICKET_FORMAT } from '../../lib/index.js';

// Property tests of what the client accepts from a ticket endpoint, through a fake `fetch` (no
// network): FUZZ_RUNS scales the run counts, FUZZ_SEED replays a failure.
const RUN_SCALE = Number(process.env.FUZZ_RUNS ?? 1) || 1;
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
function runs<T>(numRuns: number): fc.Parameters<T> {
  return { numRuns: Math.max(1, Math.round(numRuns * RUN_SCALE)), seed: SEED };
}

/** fetchTicket against an endpoint that answers `body` with `status` and `headers`. */
function answered(body: string, status = 201, headers: Record<string, string> = {}) {
  const fake: typeof fetch = async () => new Response(body, { status, headers });
  return fetchTicket({ ticketUrl: 'http://ticket.test/', getToken: () => 't', fetch: fake }).then(
    (ticket) => ({ ok: true as const, ticket }),
    (error: unknown) => {
      assert.ok(error instanceof TicketRequestFailure);
      return { ok: false as const, failure: error };
    },
  );
}

const uuidLike = fc.oneof(
  fc.uuid({ version: 4 }),
  fc.uuid(),
  fc.uuid().map((uuid) => uuid.toUpperCase()),
  fc.uuid({ version: 4 }).map((uuid) => ` ${uuid}`),
  fc.uuid({ version: 4 }).map((uuid) => `${uuid}\n`),
  fc.string(),
  fc.integer(),
  fc.constant(null),
);
const expiresInLike = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(0, -0, -1, Number.MAX_VALUE, Number.MIN_VALUE),
  fc.string(),
  fc.constant(null),
  fc.boolean(),
);
const validTicket = fc.record({
  uuid: fc.uuid({ version: 4 }),
  expiresIn: fc.oneof(fc.integer({ min: 1 }), fc.double({ min: Number.MIN_VALUE, max: 1e300 })),
});
const ticketLike = fc.record(
  { uuid: uuidLike, expiresIn: expiresInLike, extra: fc.jsonValue() },
  { requiredKeys: [] },
);

describe('Ticket response validation (property)', () => {
  it('accepts exactly the bodies with a server-shaped uuid and a positive finite expiresIn', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(ticketLike, validTicket, fc.jsonValue()), async (value) => {
        const outcome = await answered(JSON.stringify(value));
        const { uuid, expiresIn } = (
          typeof value === 'object' && value !== null ? value : {}
        ) as Record<string, unknown>;
        const valid =
          typeof uuid === 'string' &&
          TICKET_FORMAT.test(uuid) &&
          typeof expiresIn === 'number' &&
          Number.isFinite(expiresIn) &&
          expiresIn > 0;
        assert.equal(outcome.ok, valid);
        if (outcome.ok) assert.deepEqual(outcome.ticket, { uuid, expiresIn });
        else
          assert.deepEqual(
            [outcome.failure.code, outcome.failure.status],
            ['ticket_request_failed', 201],
          );
      }),
      runs(300),
    );
  });

  it('accepts a valid ticket padded up to 4 KiB, and refuses it one byte over', async () => {
    const ticket = JSON.stringify({ uuid: crypto.randomUUID(), expiresIn: 30 });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: ticket.length, max: 3 * MAX_TICKET_RESPONSE_BYTES }),
        async (size) => {
          const outcome = await answered(ticket.padEnd(size, ' '));
          assert.equal(outcome.ok, size <= MAX_TICKET_RESPONSE_BYTES, `${size} bytes`);
        },
      ),
      { ...runs(100), examples: [[MAX_TICKET_RESPONSE_BYTES], [MAX_TICKET_RESPONSE_BYTES + 1]] },
    );
  });

  it('reads any Retry-After as nothing or a number of seconds within 1-300', async () => {
    const header = fc.oneof(
      fc.string(),
      fc.double().map(String),
      fc.integer().map(String),
      fc.date({ noInvalidDate: true }).map((date) => date.toUTCString()),
    );
    await fc.assert(
      fc.asyncProperty(header, fc.constantFrom(429, 500, 503), async (value, status) => {
        let headers: Record<string, string>;
        try {
          headers = Object.fromEntries(new Headers({ 'retry-after': value }));
        } catch {
          return; // not a value an HTTP header can carry
        }
        const outcome = await answered('', status, headers);
        assert.equal(outcome.ok, false);
        if (outcome.ok) return;
        const { retryAfter } = outcome.failure;
        assert.ok(
          retryAfter === undefined ||
            (retryAfter >= MIN_TICKET_RETRY_AFTER && retryAfter <= MAX_TICKET_RETRY_AFTER),
          `Retry-After ${JSON.stringify(value)} gave ${retryAfter}`,
        );
      }),
      runs(300),
    );
  });

  it('refuses Authorization in requestInit.headers whatever its case', () => {
    fc.assert(
      fc.property(fc.mixedCase(fc.constant('authorization')), (name) => {
        assert.throws(
          () =>
            ticketAuth({
              ticketUrl: '/t',
              getToken: () => 't',
              requestInit: { headers: { [name]: 'x' } },
            }),
          TypeError,
        );
      }),
      runs(100),
    );
  });
});
