import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import { SignJWT } from 'jose';
import { WsTicketBearerVerifier, type WsTicketJwtOptions } from '../../lib/index.js';
import { checkOptionKeys } from '../../lib/internal/option-keys.js';
import { CaptureLogger } from '../ws/fixtures/ws-app.js';

const SECRET = 'bearer-options-secret-0123456789abcdef';
const JWKS = { uri: 'https://idp.example/.well-known/jwks.json' };

function verifier(jwt: unknown): WsTicketBearerVerifier {
  return new WsTicketBearerVerifier({ jwt: jwt as WsTicketJwtOptions });
}

function refuses(jwt: unknown, ...parts: string[]): void {
  assert.throws(
    () => verifier(jwt),
    (error: Error) => {
      for (const part of parts) assert.ok(error.message.includes(part), error.message);
      assert.ok(error.message.startsWith('WsTicketModule: '), error.message);
      return true;
    },
  );
}

/** A token signed with a Node KeyObject pair's private key. */
function signed(alg: string, privateKey: import('node:crypto').KeyObject): Promise<string> {
  return new SignJWT({ sub: 'u1' })
    .setProtectedHeader({ alg })
    .setExpirationTime('10m')
    .sign(privateKey);
}

describe('The jwt option at startup', () => {
  it('names a mistyped key inside a listed source and inside jwks, with its position', () => {
    assert.throws(
      () => checkOptionKeys({ jwt: [{ secret: SECRET }, { jwks: JWKS, isuer: 'x' }] }, 'forRoot'),
      /unknown option `jwt\[1\]\.isuer` \(did you mean `jwt\[1\]\.issuer`\?\)/,
    );
    assert.throws(
      () => checkOptionKeys({ jwt: { jwks: { url: JWKS.uri } } }, 'factory'),
      /unknown option `jwt\.jwks\.url` \(did you mean `jwt\.jwks\.uri`\?\)/,
    );
    checkOptionKeys(
      { jwt: [{ secret: SECRET, issuer: 'a' }, { jwks: { ...JWKS, cooldown: 5 } }] },
      'forRoot',
    );
  });

  it('refuses an empty list, an oversized one, and an entry that is no object', () => {
    refuses([], '`jwt` lists 1 to 16 key sources; received 0');
    refuses(
      Array.from({ length: 17 }, (_, i) => ({ secret: SECRET, issuer: `i${i}` })),
      'received 17',
    );
    refuses([{ secret: SECRET }, 'JWT_SECRET'], '`jwt[1]` must be an object');
  });

  it('refuses a source with two kinds of key, or with none', () => {
    refuses({ secret: SECRET, jwks: JWKS }, '`jwt` sets `secret` and `jwks`');
    refuses([{ secret: SECRET, issuer: 'a' }, { issuer: 'b' }], 'set `jwt[1].secret`');
    refuses({ secret: '' }, 'received `jwt.secret` an empty string');
  });

  it('refuses two sources claiming one issuer, and two sources without issuer', () => {
    refuses(
      [
        { secret: SECRET, issuer: ['app', 'shared'] },
        { jwks: JWKS, issuer: 'shared' },
      ],
      '`jwt[0].issuer` and `jwt[1].issuer` both name "shared"',
    );
    refuses([{ secret: SECRET }, { jwks: JWKS }], '`jwt[0]` and `jwt[1]` set no `issuer`');
  });

  it('refuses algorithms the source has no key for', () => {
    refuses(
      { secret: SECRET, algorithms: ['HS256', 'RS256'] },
      'lists RS256',
      'no `publicKey` nor `jwks`',
    );
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' });
    refuses({ publicKey: pem, algorithms: ['RS256', 'HS256'] }, 'lists HS256', 'no `secret`');
  });

  it('refuses a key that the listed algorithms leave unused', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' });
    refuses({ secret: SECRET, algorithms: ['RS256'] }, 'lists no algorithm for `jwt.secret`');
    refuses({ publicKey: pem, algorithms: ['HS256'] }, 'lists no algorithm for `jwt.publicKey`');
    refuses(
      [{ secret: SECRET, publicKey: pem, algorithms: ['HS512'], issuer: 'a' }],
      'lists no algorithm for `jwt[0].publicKey`',
    );
    refuses({ jwks: JWKS, algorithms: ['RS256', 'HS512'] }, 'asymmetric algorithms only');
  });

  it('checks jwks: an https: URL, bounded durations, string headers', () => {
    refuses({ jwks: { uri: 'not a url' } }, '`jwt.jwks.uri` must be an https: URL');
    refuses({ jwks: { uri: 'ftp://idp.example/jwks' } }, '`jwt.jwks.uri`');
    refuses({ jwks: 'https://idp.example/jwks' }, '`jwt.jwks` must be an object');
    assert.throws(
      () => verifier({ jwks: { uri: 'https://svc:hunter2@idp.example/jwks' } }),
      (error: Error) =>
        error.message.includes('carries credentials') &&
        error.message.includes('`jwt.jwks.headers`') &&
        !error.message.includes('hunter2'),
    );
    refuses(
      { jwks: { ...JWKS, timeout: 0 } },
      '`jwt.jwks.timeout` must be a number of milliseconds from 1 to 60000',
    );
    refuses({ jwks: { ...JWKS, cooldown: '30' } }, 'convert environment values with Number');
    refuses(
      { jwks: { ...JWKS, cooldown: 60, cacheMaxAge: 30 } },
      '`jwt.jwks.cacheMaxAge`',
      'from 60',
    );
    refuses(
      { jwks: { ...JWKS, headers: { 'x-api-key': 42 } } },
      '`jwt.jwks.headers` must be an object of strings',
    );
  });

  describe('warnings', () => {
    const logger = new CaptureLogger();
    before(() => Logger.overrideLogger(logger));
    after(() => Logger.overrideLogger(false));

    it('warns once about a plain http: JWKS away from loopback, and about missing issuer / audience', () => {
      logger.lines.length = 0;
      verifier({ jwks: { uri: 'http://keycloak:8080/realms/app/protocol/openid-connect/certs' } });
      assert.equal(logger.lines.filter((line) => line.includes('plain http: URL')).length, 1);
      const missing = logger.lines.filter((line) =>
        line.includes('sets no `issuer` nor `audience`'),
      );
      assert.equal(missing.length, 1);
      assert.match(missing[0], /Set `jwt\.issuer` and `jwt\.audience`/);
    });

    it('stays quiet for a loopback http: JWKS with issuer and audience', () => {
      logger.lines.length = 0;
      verifier({ jwks: { uri: 'http://127.0.0.1:8080/jwks' }, issuer: 'i', audience: 'a' });
      verifier({ jwks: { uri: 'http://localhost:8080/jwks' }, issuer: 'i', audience: 'a' });
      assert.deepEqual(logger.lines, []);
    });
  });
});

describe('Static public keys', () => {
  it('verify with the algorithm of the key when algorithms is unset', async () => {
    const cases = [
      { type: 'rsa', options: { modulusLength: 2048 }, alg: 'RS256', other: 'PS256' },
      { type: 'ec', options: { namedCurve: 'P-256' }, alg: 'ES256', other: 'ES384' },
      { type: 'ec', options: { namedCurve: 'P-384' }, alg: 'ES384', other: 'ES256' },
      { type: 'ec', options: { namedCurve: 'P-521' }, alg: 'ES512', other: 'ES256' },
    ] as const;
    for (const { type, options, alg } of cases) {
      const pair = generateKeyPairSync(type as 'rsa', options as { modulusLength: number });
      const bearer = verifier({
        publicKey: pair.publicKey.export({ type: 'spki', format: 'pem' }),
      });
      const claims = await bearer.verify(`Bearer ${await signed(alg, pair.privateKey)}`);
      assert.equal(claims.sub, 'u1', `${type} ${alg}`);
    }
  });

  it('refuses another algorithm than the key type allows', async () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const bearer = verifier({ publicKey: pair.publicKey.export({ type: 'spki', format: 'pem' }) });
    await assert.rejects(bearer.verify(`Bearer ${await signed('PS256', pair.privateKey)}`), {
      code: 'bearer_invalid',
    });
  });

  it('takes HS256 and the public key side by side in one source, each with its own key', async () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const bearer = verifier({
      secret: SECRET,
      publicKey: pair.publicKey.export({ type: 'spki', format: 'pem' }),
    });
    assert.equal(
      (await bearer.verify(`Bearer ${await signed('ES256', pair.privateKey)}`)).sub,
      'u1',
    );
    const hmac = await new SignJWT({ sub: 'u2' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(SECRET));
    assert.equal((await bearer.verify(`Bearer ${hmac}`)).sub, 'u2');
  });

  it('verifies PS256 with a plain RSA key when asked to', async () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const bearer = verifier({
      publicKey: pair.publicKey.export({ type: 'spki', format: 'pem' }),
      algorithms: ['PS256'],
    });
    assert.equal(
      (await bearer.verify(`Bearer ${await signed('PS256', pair.privateKey)}`)).sub,
      'u1',
    );
    await assert.rejects(bearer.verify(`Bearer ${await signed('RS256', pair.privateKey)}`), {
      code: 'bearer_invalid',
    });
  });

  it('refuses key types no algorithm here can use at startup, whatever algorithms says', () => {
    const ed = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' });
    refuses({ publicKey: ed }, '`jwt.publicKey` is a key of type ed25519');
    refuses({ publicKey: ed, algorithms: ['ES256'] }, '`jwt.publicKey` is a key of type ed25519');
    const pss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    refuses({ publicKey: pss, algorithms: ['PS256'] }, 'is an RSA-PSS key', 'plain RSA public key');
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    refuses({ publicKey: k1 }, 'EC key on an unsupported curve');
  });
});

describe('A provider key that cannot be used', () => {
  const logger = new CaptureLogger();
  before(() => Logger.overrideLogger(logger));
  after(() => Logger.overrideLogger(false));

  it('refuses its tokens with 401 and logs why, once, without the token', async () => {
    const { createServer } = await import('node:http');
    const { createSign } = await import('node:crypto');
    // jose refuses RSA keys under 2048 bits: not the token's fault, the provider's.
    const pair = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const jwk = { ...pair.publicKey.export({ format: 'jwk' }), kid: 'small', alg: 'RS256' };
    const server = createServer((_, response) => {
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as import('node:net').AddressInfo;
      const bearer = verifier({
        jwks: { uri: `http://127.0.0.1:${port}/jwks` },
        issuer: 'i',
        audience: 'a',
      });
      const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const now = Math.floor(Date.now() / 1000);
      const head = `${part({ alg: 'RS256', kid: 'small' })}.${part({ sub: 'u1', iss: 'i', aud: 'a', exp: now + 600 })}`;
      const token = `${head}.${createSign('RSA-SHA256').update(head).sign(pair.privateKey).toString('base64url')}`;
      logger.lines.length = 0;
      for (let i = 0; i < 3; i++) {
        await assert.rejects(bearer.verify(`Bearer ${token}`), { code: 'bearer_invalid' });
      }
      const failures = logger.lines.filter((line) => line.includes('Bearer verification failed'));
      assert.equal(failures.length, 1, logger.lines.join('\n'));
      assert.match(failures[0], /2048/);
      assert.ok(logger.lines.every((line) => !line.includes(token.split('.')[2])));
    } finally {
      server.close();
    }
  });
});
