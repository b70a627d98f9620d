import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { requestTicket } from '../support/app.js';
import { signJwt } from '../support/jwt.js';
import {
  login,
  SAMPLE_JWT_SECRET,
  type SampleProcess,
  startSample,
} from '../support/sample-process.js';

const TICKET_PATH = '/api/auth/ws-ticket';

interface SampleClaims {
  sub: string;
  username: string;
  sv: number;
  iat: number;
  exp: number;
}

function claimsOf(token: string): SampleClaims {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as SampleClaims;
}

function refresh(url: string, token?: string): Promise<Response> {
  return fetch(`${url}/api/auth/refresh`, {
    method: 'POST',
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
}

/** Refreshes `token` at the sample and fails the test unless it answered 200. */
async function refreshed(url: string, token: string): Promise<string> {
  const response = await refresh(url, token);
  assert.equal(response.status, 200, 'POST /api/auth/refresh');
  return ((await response.json()) as { access_token: string }).access_token;
}

describe('The sample refreshes access tokens (POST /api/auth/refresh)', () => {
  let sample: SampleProcess;
  let url: string;

  before(async () => {
    sample = await startSample({ JWT_TTL: '120' });
    url = sample.url;
  });
  after(() => sample.stop());

  it('answers 200 with a token of the same user and session that expires later, not cached', async () => {
    const token = await login(url, 'bob');
    // Tokens count whole seconds: from the next second on, a new token ends later.
    await delay(1000 - (Date.now() % 1000) + 20);
    const response = await refresh(url, token);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    const fresh = ((await response.json()) as { access_token: string }).access_token;
    const [old, now] = [claimsOf(token), claimsOf(fresh)];
    assert.ok(now.exp > old.exp, `new exp ${now.exp} is not after the old ${old.exp}`);
    assert.equal(now.exp - now.iat, 120);
    assert.deepEqual(
      { sub: now.sub, username: now.username, sv: now.sv },
      { sub: old.sub, username: old.username, sv: old.sv },
    );
    assert.equal((await requestTicket(url, fresh, TICKET_PATH)).status, 201);
  });

  it('answers 401 without a bearer token, and to one that is not a token', async () => {
    assert.equal((await refresh(url)).status, 401);
    assert.equal((await refresh(url, 'not-a-jwt')).status, 401);
  });

  it('answers 401 to an expired token of a current session', async () => {
    const { sub, username, sv } = claimsOf(await login(url, 'bob'));
    const token = (expiresIn: number) =>
      signJwt({ sub, username, sv }, { secret: SAMPLE_JWT_SECRET, expiresIn });
    assert.equal((await refresh(url, token(60))).status, 200, 'the same claims, not expired');
    assert.equal((await refresh(url, token(-1))).status, 401);
  });

  it('answers 401 after logout-all, to the old token and to one refreshed before it', async () => {
    const token = await login(url, 'alice');
    const fresh = await refreshed(url, token);
    const logout = await fetch(`${url}/api/auth/logout-all`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fresh}` },
    });
    assert.equal(logout.status, 204, 'a refreshed token is one of the current session');
    assert.equal((await refresh(url, token)).status, 401);
    assert.equal((await refresh(url, fresh)).status, 401);
    assert.equal((await requestTicket(url, fresh, TICKET_PATH)).status, 401);
  });
});
