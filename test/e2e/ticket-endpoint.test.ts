import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WsTicketModule } from '../../lib/index.js';
import { TestUsers } from '../fixtures/users.js';
import { PLATFORMS, requestTicket, type StartedApp, startOn } from '../support/app.js';
import { signJwt, TEST_SECRET, tamper } from '../support/jwt.js';

for (const platform of PLATFORMS) {
  const start = startOn(platform);

  const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  describe(`POST /auth/ws-ticket [${platform}]`, () => {
    const users = new TestUsers();
    let started: StartedApp;
    let url: string;

    before(async () => {
      started = await start({
        imports: [
          WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, resolveUser: users.resolve }),
        ],
      });
      url = started.url;
    });
    after(() => started.close());

    it('answers 201 with a v4 uuid, expiresIn 30, Cache-Control: no-store and nosniff', async () => {
      const response = await requestTicket(url, signJwt({ sub: '1' }));
      assert.equal(response.status, 201);
      assert.equal(response.headers.get('cache-control'), 'no-store');
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
      const body = (await response.json()) as { uuid: string; expiresIn: number };
      assert.match(body.uuid, UUID_V4);
      assert.equal(body.expiresIn, 30);
      assert.deepEqual(Object.keys(body).sort(), ['expiresIn', 'uuid']);
    });

    it('issues a different ticket every time', async () => {
      const token = signJwt({ sub: '1' });
      const [a, b] = await Promise.all([requestTicket(url, token), requestTicket(url, token)]);
      const [x, y] = (await Promise.all([a.json(), b.json()])) as Array<{ uuid: string }>;
      assert.notEqual(x.uuid, y.uuid);
    });

    for (const method of ['GET', 'PUT', 'DELETE']) {
      it(`does not issue a ticket on ${method}`, async () => {
        const response = await fetch(`${url}/auth/ws-ticket`, {
          method,
          headers: { authorization: `Bearer ${signJwt({ sub: '1' })}` },
        });
        assert.ok(response.status === 404 || response.status === 405, `got ${response.status}`);
        assert.ok(!(await response.text()).match(UUID_V4));
      });
    }

    it('answers 401 with WWW-Authenticate: Bearer when no token is sent', async () => {
      const response = await requestTicket(url, undefined);
      assert.equal(response.status, 401);
      assert.equal(response.headers.get('www-authenticate'), 'Bearer realm="ws-ticket"');
      assert.equal(response.headers.get('cache-control'), 'no-store');
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(((await response.json()) as { code: string }).code, 'bearer_missing');
    });

    const forged: Array<[string, () => string]> = [
      ['an unsigned token (alg none)', () => signJwt({ sub: '1' }, { alg: 'none' })],
      [
        'a token signed with another secret',
        () => signJwt({ sub: '1' }, { secret: 'another-secret-of-good-length-0123456789' }),
      ],
      ['an expired token', () => signJwt({ sub: '1' }, { expiresIn: -10 })],
      ['a tampered token', () => tamper(signJwt({ sub: '1' }), { sub: '2' })],
      ['a token without exp', () => signJwt({ sub: '1' }, { expiresIn: null })],
      [
        'a token with an algorithm not allowed (HS512)',
        () => signJwt({ sub: '1' }, { alg: 'HS512' }),
      ],
      ['garbage', () => 'not-a-jwt'],
      ['a 10 kB token', () => 'a'.repeat(10_240)],
    ];
    for (const [name, token] of forged) {
      it(`answers 401 invalid_token to ${name}`, async () => {
        const value = token();
        const response = await requestTicket(url, value);
        assert.equal(response.status, 401);
        const challenge = response.headers.get('www-authenticate') ?? '';
        assert.match(challenge, /^Bearer realm="ws-ticket", error="invalid_token"/);
        const text = await response.text();
        assert.equal((JSON.parse(text) as { code: string }).code, 'bearer_invalid');
        assert.ok(!text.includes(value) && !challenge.includes(value), 'the token was echoed');
      });
    }

    it('answers 401 to a non-Bearer authorization scheme', async () => {
      const response = await fetch(`${url}/auth/ws-ticket`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}` },
      });
      assert.equal(response.status, 401);
    });

    it('answers 401 user_rejected when resolveUser refuses the user', async () => {
      const response = await requestTicket(url, signJwt({ sub: 'ghost' }));
      assert.equal(response.status, 401);
      assert.equal(((await response.json()) as { code: string }).code, 'user_rejected');
    });
  });

  describe(`JWT options [${platform}]`, () => {
    it('accepts tokens without exp only when allowMissingExp is set', async () => {
      const started = await start({
        imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET, allowMissingExp: true } })],
      });
      try {
        const response = await requestTicket(
          started.url,
          signJwt({ sub: '1' }, { expiresIn: null }),
        );
        assert.equal(response.status, 201);
      } finally {
        await started.close();
      }
    });

    it('checks issuer and audience when configured', async () => {
      const started = await start({
        imports: [
          WsTicketModule.forRoot({
            jwt: { secret: TEST_SECRET, issuer: 'auth.example', audience: 'chat' },
          }),
        ],
      });
      try {
        const good = await requestTicket(
          started.url,
          signJwt({ sub: '1', iss: 'auth.example', aud: 'chat' }),
        );
        assert.equal(good.status, 201);
        const wrongIssuer = await requestTicket(
          started.url,
          signJwt({ sub: '1', iss: 'evil', aud: 'chat' }),
        );
        assert.equal(wrongIssuer.status, 401);
        const wrongAudience = await requestTicket(
          started.url,
          signJwt({ sub: '1', iss: 'auth.example', aud: 'x' }),
        );
        assert.equal(wrongAudience.status, 401);
      } finally {
        await started.close();
      }
    });

    it('refuses to start with alg none or without a key', async () => {
      await assert.rejects(
        start({
          imports: [
            WsTicketModule.forRoot({
              jwt: { secret: TEST_SECRET, algorithms: ['none' as 'HS256'] },
            }),
          ],
        }),
        /never "none"/,
      );
      await assert.rejects(start({ imports: [WsTicketModule.forRoot({ jwt: {} })] }), /jwt.secret/);
    });
  });
}
