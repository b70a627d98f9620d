import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type WsTicketClaims, WsTicketModule } from '../../lib/index.js';
import { CountingStore } from '../fixtures/stores.js';
import { PLATFORMS, requestTicket, startOn } from '../support/app.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';

const REQUESTS = 200;
const LIMIT = 60;

for (const platform of PLATFORMS) {
  /** An app whose store counts ticket writes, with the given limit and resolveUser. */
  const start = (limit: number, resolveUser: (claims: WsTicketClaims) => unknown) =>
    startOn(platform)({
      imports: [
        WsTicketModule.forRoot({
          jwt: { secret: TEST_SECRET },
          store,
          issueLimit: { limit, window: 60 },
          resolveUser,
        }),
      ],
    });
  let store: CountingStore;

  describe(`The issuance limit comes before resolveUser [${platform}]`, () => {
    it(`${REQUESTS} rapid requests of one user run resolveUser only for the ${LIMIT} tickets issued`, async () => {
      const resolved: string[] = [];
      store = new CountingStore();
      const started = await start(LIMIT, async (claims) => {
        resolved.push(String(claims.sub));
        return { id: claims.sub };
      });
      try {
        const token = signJwt({ sub: '1' });
        const statuses = await Promise.all(
          Array.from({ length: REQUESTS }, async () => {
            const response = await requestTicket(started.url, token);
            await response.arrayBuffer();
            return response.status;
          }),
        );
        const issued = statuses.filter((status) => status === 201).length;
        assert.equal(issued, LIMIT);
        assert.equal(statuses.filter((status) => status === 429).length, REQUESTS - LIMIT);
        assert.equal(resolved.length, issued, 'resolveUser ran for refused requests');
        assert.equal(store.puts.length, issued, 'a refused request wrote a ticket');
      } finally {
        await started.close();
      }
    });

    it('counts a request that resolveUser refuses, and writes no ticket for it', async () => {
      let calls = 0;
      store = new CountingStore();
      const started = await start(2, () => {
        calls++;
        return null;
      });
      try {
        const token = signJwt({ sub: '9' });
        const codes: Array<[number, unknown]> = [];
        for (let i = 0; i < 4; i++) {
          const response = await requestTicket(started.url, token);
          codes.push([response.status, ((await response.json()) as { code?: unknown }).code]);
        }
        assert.deepEqual(codes, [
          [401, 'user_rejected'],
          [401, 'user_rejected'],
          [429, 'rate_limited'],
          [429, 'rate_limited'],
        ]);
        assert.equal(calls, 2);
        assert.equal(store.puts.length, 0);
      } finally {
        await started.close();
      }
    });
  });
}
