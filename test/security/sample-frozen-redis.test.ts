import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import { eventually, redisPid } from '../redis/support/redis-tools.js';
import {
  connectTo,
  loginResponse,
  openAs,
  postAs,
  SAMPLE_TICKET_PATH,
  sampleTicket,
  tokenFor,
} from '../redis/support/sample.js';
import {
  type RedisServerHandle,
  redisSkipReason,
  startRedisServer,
} from '../support/redis-server.js';
import { type SampleProcess, startSample } from '../support/sample-process.js';

const skip = redisSkipReason();

/** The `code` of a JSON error answer. */
async function codeOf(response: Response): Promise<unknown> {
  return ((await response.json()) as { code?: unknown }).code;
}

/**
 * A Redis paused with SIGSTOP keeps its TCP connections open and answers nothing: node-redis sees
 * no error and its command timeout no longer applies to a command on the wire. The sample must
 * still answer every route in time (each request is bounded by HANG_BOUND; the test asserts the
 * answer, not its duration), then work again once Redis resumes.
 */
describe('The sample on a frozen Redis', { skip, timeout: 90_000 }, () => {
  let redis: RedisServerHandle | undefined;
  let sample: SampleProcess | undefined;
  let pid: number | undefined;
  let frozen = false;
  const sockets: Socket[] = [];
  const tokens: Record<'alice' | 'carol', string> = { alice: '', carol: '' };
  /** Issued before the freeze, offered during it. */
  let earlierTicket = '';

  const freeze = () => {
    if (pid === undefined || frozen) return;
    process.kill(pid, 'SIGSTOP');
    frozen = true;
  };
  const thaw = () => {
    if (pid === undefined || !frozen) return;
    process.kill(pid, 'SIGCONT');
    frozen = false;
  };

  before(async () => {
    redis = await startRedisServer();
    sample = await startSample({ REDIS_URL: redis.url, JWT_TTL: '600', WS_TICKET_TTL: '60' });
    pid = await redisPid(redis.url);
    tokens.alice = await tokenFor(sample.url, 'alice');
    tokens.carol = await tokenFor(sample.url, 'carol');
    earlierTicket = await sampleTicket(sample.url, tokens.alice);
  });
  after(async () => {
    // A stopped redis-server ignores SIGTERM until it is continued.
    thaw();
    for (const socket of sockets) socket.close();
    await sample?.stop();
    await redis?.stop();
  });

  describe('while Redis is frozen (SIGSTOP)', () => {
    before(freeze);
    after(thaw);

    it('answers login with 503 user_state_unavailable', async () => {
      const response = await loginResponse(url(), 'bob');
      assert.equal(response.status, 503);
      assert.equal(await codeOf(response), 'user_state_unavailable');
    });

    it('answers the ticket endpoint with 503 store_unavailable', async () => {
      const response = await postAs(url(), SAMPLE_TICKET_PATH, tokens.alice);
      assert.equal(response.status, 503);
      assert.equal(await codeOf(response), 'store_unavailable');
    });

    it('answers logout-all with 503 user_state_unavailable', async () => {
      const response = await postAs(url(), '/api/auth/logout-all', tokens.alice);
      assert.equal(response.status, 503);
      assert.equal(await codeOf(response), 'user_state_unavailable');
    });

    it('answers refresh with 503 user_state_unavailable, never a token', async () => {
      const response = await postAs(url(), '/api/auth/refresh', tokens.alice);
      assert.equal(response.status, 503);
      assert.equal(await codeOf(response), 'user_state_unavailable');
    });

    it('answers account/deactivate with 503 user_state_unavailable', async () => {
      const response = await postAs(url(), '/api/account/deactivate', tokens.carol);
      assert.equal(response.status, 503);
      assert.equal(await codeOf(response), 'user_state_unavailable');
    });

    it('refuses a handshake with connect_error store_unavailable', async () => {
      const outcome = await connectTo(url(), '/chat', earlierTicket);
      assert.equal(!outcome.ok && outcome.code, 'store_unavailable');
    });

    it('keeps the process running', () => {
      assert.equal(sample?.child.exitCode, null);
      assert.equal(sample?.child.signalCode, null);
    });
  });

  it('logs in, issues tickets and accepts sockets again once Redis is continued (SIGCONT)', async () => {
    thaw();
    let token = '';
    await eventually(async () => {
      const login = await loginResponse(url(), 'bob').catch(() => undefined);
      if (login?.status !== 200) {
        await login?.body?.cancel();
        return false;
      }
      token = ((await login.json()) as { access_token: string }).access_token;
      const ticket = await postAs(url(), SAMPLE_TICKET_PATH, token).catch(() => undefined);
      await ticket?.body?.cancel();
      return ticket?.status === 201;
    }, 'login 200 and ticket 201 after SIGCONT');
    const socket = await openAs(url(), '/chat', token);
    sockets.push(socket);
    assert.ok(socket.connected);
  });

  it('logged the timeouts without a token, a ticket or an unhandled error', () => {
    const output = sample?.output() ?? '';
    assert.match(output, /User state unavailable: Redis did not answer within 2000 ms/);
    assert.doesNotMatch(output, /eyJ/);
    assert.doesNotMatch(output, /[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-/);
    assert.doesNotMatch(output, /ExceptionsHandler|Unhandled|Internal server error/i);
  });

  function url(): string {
    assert.ok(sample, 'the sample is running');
    return sample.url;
  }
});
