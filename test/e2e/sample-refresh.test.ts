import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Socket } from 'socket.io-client';
import { loadConfig } from '../../sample/config.js';
import { requestTicket, ticketFor } from '../support/app.js';
import { signJwt } from '../support/jwt.js';
import {
  login,
  SAMPLE_JWT_SECRET,
  type SampleProcess,
  startSample,
} from '../support/sample-process.js';
import { ask, connected, next } from '../support/sockets.js';

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

describe('The sample reads WS_TICKET_REFRESH_WINDOW', () => {
  const window = (value?: string) =>
    loadConfig({
      JWT_SECRET: 'x',
      ...(value === undefined ? {} : { WS_TICKET_REFRESH_WINDOW: value }),
    }).wsTicketRefreshWindow;

  it("leaves the module's default when unset or empty, and takes 0 and whole seconds", () => {
    assert.equal(window(), undefined);
    assert.equal(window(''), undefined);
    assert.equal(window('0'), 0);
    assert.equal(window('45'), 45);
  });

  it('refuses anything but a non-negative integer, naming the variable', () => {
    for (const value of ['abc', '-1', '1.5', ' ', '1e3', '0x10']) {
      assert.throws(
        () => window(value),
        /^Error: WS_TICKET_REFRESH_WINDOW must be a non-negative integer \(seconds\)/,
        JSON.stringify(value),
      );
    }
  });

  it('stops the sample at startup on an invalid value, naming the variable', async () => {
    await assert.rejects(
      startSample({ WS_TICKET_REFRESH_WINDOW: 'abc' }),
      /sample exited with 1:[\s\S]*WS_TICKET_REFRESH_WINDOW must be a non-negative integer/,
    );
  });
});

describe('A sample socket across token refreshes (Socket.IO, no client helper)', () => {
  const samples: SampleProcess[] = [];
  const sockets: Socket[] = [];
  const open = async (env: Record<string, string>) => {
    const sample = await startSample(env);
    samples.push(sample);
    const token = await login(sample.url, 'alice');
    const socket = await connected(`${sample.url}/chat`, {
      auth: { uuid: await ticketFor(sample.url, token, TICKET_PATH) },
    });
    sockets.push(socket);
    return { url: sample.url, token, socket };
  };
  after(async () => {
    for (const socket of sockets) socket.close();
    await Promise.all(samples.map((sample) => sample.stop()));
  });

  it('is asked to refresh WS_TICKET_REFRESH_WINDOW s before its JWT ends, and a refreshed token moves the end', async () => {
    const { url, token, socket } = await open({ JWT_TTL: '4', WS_TICKET_REFRESH_WINDOW: '1' });
    const { expiresAt } = await next<{ expiresAt: number }>(socket, 'ws-ticket:expiring');
    const left = expiresAt - Date.now();
    assert.equal(expiresAt, claimsOf(token).exp * 1000);
    // The module's default (60 s, more than the token's life) would ask halfway: 1.5-2 s before.
    assert.ok(left > 0 && left <= 1100, `asked ${left} ms before the end, not about 1000`);

    const fresh = await refreshed(url, token);
    const uuid = await ticketFor(url, fresh, TICKET_PATH);
    assert.deepEqual(await ask(socket, 'ws-ticket:refresh', { uuid }), {
      ok: true,
      expiresAt: claimsOf(fresh).exp * 1000,
    });
    await delay(Math.max(0, expiresAt - Date.now()) + 500);
    assert.equal(socket.connected, true, 'the socket outlived its first token');
    assert.deepEqual(await ask(socket, 'whoami'), { id: '1', username: 'alice' });
  });

  it('is never asked with WS_TICKET_REFRESH_WINDOW=0, and ends with session_expired', async () => {
    const { socket } = await open({ JWT_TTL: '2', WS_TICKET_REFRESH_WINDOW: '0' });
    let asked = 0;
    socket.on('ws-ticket:expiring', () => asked++);
    assert.equal((await next<{ code: string }>(socket, 'unauthorized')).code, 'session_expired');
    assert.equal(asked, 0);
  });
});
