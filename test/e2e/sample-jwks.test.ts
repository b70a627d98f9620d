import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import type { WebSocket } from 'ws';
import { loadConfig, SAMPLE_ISSUER } from '../../sample/config.js';
import { requestTicket, ticketFor } from '../support/app.js';
import {
  JwksServer,
  makeKey,
  type SignOptions,
  signWith,
  type TestKey,
} from '../support/jwks-server.js';
import { signJwt } from '../support/jwt.js';
import {
  login,
  SAMPLE_JWT_SECRET,
  type SampleProcess,
  startSample,
} from '../support/sample-process.js';
import { ask, connect, connected } from '../support/sockets.js';
import { withDeadline } from '../support/stop-child.js';
import { ask as askWs, closeWs, openWs } from '../ws/fixtures/ws-app.js';

const TICKET_PATH = '/api/auth/ws-ticket';
const ISSUER = 'https://idp.example/realms/chat';
const AUDIENCE = 'chat-api';
/** The sample's users (sample/users/users.service.ts). */
const ALICE = { id: '1', username: 'alice' };
const BOB = { id: '2', username: 'bob' };
const CAROL = { id: '3', username: 'carol' };
/** Bound on an answer the sample must send. */
const ANSWER_MS = 15_000;

/** The JSON body of a refusal (`code`), or of a ticket. */
async function bodyOf(response: Response): Promise<{ code?: string; uuid?: string }> {
  return (await response.json()) as { code?: string; uuid?: string };
}

describe('The sample with JWT_JWKS_URI (tokens of an identity provider)', () => {
  let jwks: JwksServer;
  let rsa: TestKey;
  let ec: TestKey;
  /** Every token the tests sent: none may appear in the samples' output. */
  const sent: string[] = [];
  const sign = async (
    key: TestKey,
    claims: Record<string, unknown>,
    options: SignOptions = {},
  ): Promise<string> => {
    const token = await signWith(key, claims, options);
    sent.push(token);
    return token;
  };
  const own = async (url: string, username: string): Promise<string> => {
    const token = await login(url, username);
    sent.push(token);
    return token;
  };

  before(async () => {
    [rsa, ec] = await Promise.all([makeKey('RS256', 'rsa-1'), makeKey('ES256', 'ec-1')]);
    jwks = await JwksServer.start([rsa, ec]);
  });
  after(() => jwks?.stop());

  describe('Socket.IO (npm run sample), with JWT_ISSUER and JWT_AUDIENCE', () => {
    let sample: SampleProcess;
    let url: string;
    const provider = { issuer: ISSUER, audience: AUDIENCE };
    const ticket = (token: string) => requestTicket(url, token, TICKET_PATH);
    const chat = async (token: string): Promise<Socket> =>
      connected(`${url}/chat`, { auth: { uuid: await ticketFor(url, token, TICKET_PATH) } });

    before(async () => {
      sample = await startSample({
        JWT_JWKS_URI: jwks.uri,
        JWT_ISSUER: ISSUER,
        JWT_AUDIENCE: AUDIENCE,
        WS_TICKET_TTL: '20',
      });
      url = sample.url;
    });
    after(() => sample?.stop());

    it('says at startup that the ticket endpoint also accepts tokens from the JWKS', () => {
      assert.match(
        sample.output(),
        new RegExp(
          `also accepts identity provider tokens: RS256 or ES256 signed with the keys at ${jwks.uri.replaceAll('.', '\\.')}, iss ${ISSUER.replaceAll('.', '\\.')}, aud ${AUDIENCE}`,
        ),
      );
    });

    it("opens /chat as the sample user named by an RS256 provider token's sub", async () => {
      const socket = await chat(await sign(rsa, { sub: ALICE.id }, provider));
      assert.deepEqual(await ask(socket, 'whoami'), ALICE);
      socket.close();
    });

    it("opens /chat and /notifications as the sample user named by an ES256 provider token's sub", async () => {
      const token = await sign(ec, { sub: BOB.id }, provider);
      for (const namespace of ['/chat', '/notifications']) {
        const uuid = await ticketFor(url, token, TICKET_PATH);
        const socket = await connected(`${url}${namespace}`, { auth: { uuid } });
        assert.deepEqual(await ask(socket, 'whoami'), BOB);
        socket.close();
      }
    });

    it(`keeps accepting the sample's own login tokens beside them (iss ${SAMPLE_ISSUER})`, async () => {
      const token = await own(url, 'alice');
      const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
      assert.equal(claims.iss, SAMPLE_ISSUER);
      const socket = await chat(token);
      assert.deepEqual(await ask(socket, 'whoami'), ALICE);
      socket.close();
    });

    it("refreshes the sample's own tokens into tokens that still get tickets", async () => {
      const response = await fetch(`${url}/api/auth/refresh`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await own(url, 'bob')}` },
      });
      assert.equal(response.status, 200);
      const fresh = ((await response.json()) as { access_token: string }).access_token;
      sent.push(fresh);
      assert.equal((await ticket(fresh)).status, 201);
    });

    it('refuses a provider token of another issuer, or of none (401 bearer_invalid)', async () => {
      for (const issuer of ['https://other.example/', undefined]) {
        const response = await ticket(await sign(rsa, { sub: ALICE.id }, { ...provider, issuer }));
        assert.equal(response.status, 401, String(issuer));
        assert.equal((await bodyOf(response)).code, 'bearer_invalid', String(issuer));
      }
    });

    it('refuses a provider token for another audience (401 bearer_invalid)', async () => {
      const response = await ticket(
        await sign(ec, { sub: ALICE.id }, { ...provider, audience: 'another-api' }),
      );
      assert.equal(response.status, 401);
      assert.equal((await bodyOf(response)).code, 'bearer_invalid');
    });

    it('refuses a provider token whose sub is no sample user (401 user_rejected)', async () => {
      for (const sub of ['99', 'alice']) {
        const response = await ticket(await sign(rsa, { sub }, provider));
        assert.equal(response.status, 401, sub);
        assert.equal((await bodyOf(response)).code, 'user_rejected', sub);
      }
    });

    it("refuses a provider token claiming the sample's issuer: only the sample's secret signs those", async () => {
      const response = await ticket(
        await sign(rsa, { sub: ALICE.id, sv: 0 }, { ...provider, issuer: SAMPLE_ISSUER }),
      );
      assert.equal(response.status, 401);
      assert.equal((await bodyOf(response)).code, 'bearer_invalid');
    });

    it("refuses a token signed with the sample's secret but naming the provider (no session check skipped)", async () => {
      // Such a token goes to the JWKS source, which takes RS256 and ES256 only.
      const forged = signJwt(
        { sub: ALICE.id, iss: ISSUER, aud: AUDIENCE },
        {
          secret: SAMPLE_JWT_SECRET,
        },
      );
      sent.push(forged);
      const response = await ticket(forged);
      assert.equal(response.status, 401);
      assert.equal((await bodyOf(response)).code, 'bearer_invalid');
    });

    it("keeps accepting a user's provider tokens after the sample's logout-all (their sessions end at the provider)", async () => {
      const sampleToken = await own(url, 'bob');
      const providerToken = await sign(ec, { sub: BOB.id }, provider);
      const logout = await fetch(`${url}/api/auth/logout-all`, {
        method: 'POST',
        headers: { authorization: `Bearer ${sampleToken}` },
      });
      assert.equal(logout.status, 204);
      assert.equal((await ticket(sampleToken)).status, 401, "the sample's token of that session");
      assert.equal((await ticket(providerToken)).status, 201, 'the provider token');
    });

    it("closes a deactivated user's provider-token sockets and refuses their provider tokens (401 user_rejected)", async () => {
      const providerToken = await sign(rsa, { sub: CAROL.id }, provider);
      const socket = await chat(providerToken);
      assert.deepEqual(await ask(socket, 'whoami'), CAROL);
      const earlier = await ticketFor(url, providerToken, TICKET_PATH);
      const closed = new Promise<{ code?: string; reason: string }>((resolve) => {
        let code: string | undefined;
        socket.once('unauthorized', (payload: { code: string }) => {
          code = payload.code;
        });
        socket.once('disconnect', (reason) => resolve({ code, reason }));
      });
      const deactivate = await fetch(`${url}/api/account/deactivate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await own(url, 'carol')}` },
      });
      assert.equal(deactivate.status, 204);
      assert.deepEqual(await withDeadline(closed, ANSWER_MS, 'the socket to close'), {
        code: 'user_revoked',
        reason: 'io server disconnect',
      });
      const response = await ticket(providerToken);
      assert.equal(response.status, 401);
      assert.equal((await bodyOf(response)).code, 'user_rejected');
      // disconnectUser deleted the tickets issued before it.
      const refused = await connect(`${url}/chat`, { auth: { uuid: earlier } });
      assert.equal(!refused.ok && refused.code, 'ticket_invalid');
    });

    it('never prints a token it was sent', () => {
      assert.ok(sent.length > 10);
      const output = sample.output();
      for (const token of sent) assert.equal(output.includes(token), false);
    });
  });

  describe('raw WebSocket (npm run sample:ws), JWKS alone (no JWT_ISSUER nor JWT_AUDIENCE)', () => {
    let sample: SampleProcess;
    let url: string;
    const opened: WebSocket[] = [];
    const chat = async (token: string): Promise<WebSocket> => {
      const uuid = await ticketFor(url, token, TICKET_PATH);
      const target = `${url.replace(/^http/, 'ws')}/ws/chat?uuid=${uuid}`;
      const outcome = await withDeadline(openWs(target), ANSWER_MS, 'the upgrade');
      if (!outcome.ok) throw new Error(`upgrade refused: ${outcome.status} ${outcome.code}`);
      opened.push(outcome.ws);
      return outcome.ws;
    };
    const whoami = (ws: WebSocket) => withDeadline(askWs(ws, 'whoami'), ANSWER_MS, 'whoami');

    before(async () => {
      sample = await startSample({ JWT_JWKS_URI: jwks.uri }, 'main-ws.js');
      url = sample.url;
    });
    after(async () => {
      await Promise.all(opened.map((ws) => closeWs(ws)));
      await sample?.stop();
    });

    it('warns at startup that any token the provider signed is accepted', () => {
      assert.match(sample.output(), /iss any, aud any/);
      assert.match(sample.output(), /sets no `issuer` nor `audience`/);
    });

    it('opens /ws/chat as the sample users named by RS256 and ES256 provider tokens, of any issuer', async () => {
      const alice = await chat(
        await sign(rsa, { sub: ALICE.id }, { issuer: 'https://a.example/' }),
      );
      const bob = await chat(await sign(ec, { sub: BOB.id }));
      assert.deepEqual(await whoami(alice), ALICE);
      assert.deepEqual(await whoami(bob), BOB);
    });

    it("keeps accepting the sample's own login tokens beside them", async () => {
      assert.deepEqual(await whoami(await chat(await own(url, 'carol'))), CAROL);
    });

    it('refuses a provider token whose sub is no sample user (401 user_rejected)', async () => {
      const response = await requestTicket(url, await sign(ec, { sub: '0' }), TICKET_PATH);
      assert.equal(response.status, 401);
      assert.equal((await bodyOf(response)).code, 'user_rejected');
    });

    it("refuses a token signed with the sample's secret but no sample issuer (401 bearer_invalid)", async () => {
      const forged = signJwt({ sub: ALICE.id }, { secret: SAMPLE_JWT_SECRET });
      sent.push(forged);
      const response = await requestTicket(url, forged, TICKET_PATH);
      assert.equal(response.status, 401);
      assert.equal((await bodyOf(response)).code, 'bearer_invalid');
    });

    it('never prints a token it was sent', () => {
      const output = sample.output();
      for (const token of sent) assert.equal(output.includes(token), false);
    });
  });

  describe('startup', () => {
    it('logs the JWKS URL as origin and path, never its query', async () => {
      const sample = await startSample({ JWT_JWKS_URI: `${jwks.uri}?api_key=query-secret-7` });
      try {
        assert.match(sample.output(), /signed with the keys at http:\/\/127\.0\.0\.1:\d+\/jwks,/);
        assert.equal(sample.output().includes('query-secret-7'), false);
      } finally {
        await sample.stop();
      }
    });

    it('stops on a JWT_JWKS_URI that is no http(s) URL or holds credentials, naming it and not the value', async () => {
      const values = [
        'not a url',
        'ftp://keys.example/jwks',
        'https://user:hunter2-secret@keys.example/jwks',
      ];
      const failures = await Promise.all(
        values.map((value) =>
          startSample({ JWT_JWKS_URI: value }).then(
            (sample) => sample.stop().then(() => new Error(`started with ${value}`)),
            (failure: Error) => failure,
          ),
        ),
      );
      failures.forEach((failure, index) => {
        assert.match(
          failure.message,
          /sample exited with 1:[\s\S]*JWT_JWKS_URI must/,
          values[index],
        );
        assert.equal(failure.message.includes('hunter2-secret'), false, values[index]);
      });
    });

    it('stops on JWT_ISSUER or JWT_AUDIENCE without JWT_JWKS_URI, naming JWT_JWKS_URI', async () => {
      const envs: Record<string, string>[] = [{ JWT_ISSUER: ISSUER }, { JWT_AUDIENCE: AUDIENCE }];
      await Promise.all(
        envs.map((env) =>
          assert.rejects(
            startSample(env),
            /sample exited with 1:[\s\S]*set JWT_JWKS_URI too/,
            Object.keys(env)[0],
          ),
        ),
      );
    });

    it("stops on a JWT_ISSUER that is the sample's own issuer", async () => {
      await assert.rejects(
        startSample({ JWT_JWKS_URI: jwks.uri, JWT_ISSUER: SAMPLE_ISSUER }),
        /sample exited with 1:[\s\S]*JWT_ISSUER must be the identity provider's issuer/,
      );
    });
  });
});

describe('The sample reads JWT_JWKS_URI, JWT_ISSUER and JWT_AUDIENCE', () => {
  const read = (env: Record<string, string>) => {
    const { jwtJwksUri, jwtIssuer, jwtAudience } = loadConfig({ JWT_SECRET: 'x', ...env });
    return { jwtJwksUri, jwtIssuer, jwtAudience };
  };

  it('trims them, and takes empty values as unset', () => {
    assert.deepEqual(
      read({
        JWT_JWKS_URI: ' https://idp.example/.well-known/jwks.json ',
        JWT_ISSUER: ' ',
        JWT_AUDIENCE: ' chat-api ',
      }),
      {
        jwtJwksUri: 'https://idp.example/.well-known/jwks.json',
        jwtIssuer: undefined,
        jwtAudience: 'chat-api',
      },
    );
    assert.deepEqual(read({ JWT_JWKS_URI: '', JWT_ISSUER: '', JWT_AUDIENCE: '' }), {
      jwtJwksUri: undefined,
      jwtIssuer: undefined,
      jwtAudience: undefined,
    });
  });

  it('names both when JWT_ISSUER and JWT_AUDIENCE are set without JWT_JWKS_URI', () => {
    assert.throws(
      () => read({ JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE }),
      /^Error: JWT_ISSUER and JWT_AUDIENCE apply to identity provider tokens: set JWT_JWKS_URI too/,
    );
  });
});
