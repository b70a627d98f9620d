import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RedisTicketStore, WsTicketModule } from '../../lib/index.js';
import { ChatTestGateway } from '../fixtures/gateways.js';
import { issueTicket } from '../redis/support/http.js';
import { type Instance, startInstance } from '../redis/support/instances.js';
import { inspector } from '../redis/support/redis-tools.js';
import { type StartedApp, startApp } from '../support/app.js';
import { TEST_SECRET } from '../support/jwt.js';
import {
  type RedisServerHandle,
  redisSkipReason,
  startRedisServer,
} from '../support/redis-server.js';
import { closure, openWs } from '../ws/fixtures/ws-app.js';

const skip = redisSkipReason();
const CHANNEL = 'ws-ticket:instances';

/** Resolves `what`, or 'not settled' after `ms`: every wait of this file is bounded. */
function within<T>(what: Promise<T>, ms: number): Promise<T | 'not settled'> {
  return Promise.race([
    what,
    new Promise<'not settled'>((resolve) => setTimeout(() => resolve('not settled'), ms)),
  ]);
}

// Root cause: the channel accepts any `code` matching /^[a-z][a-z_]{0,63}$/
// (lib/session/instance-channel.ts, CODE), and WsTicketWsAdapter.closeCodeFor looks it up with a
// plain property read (`WS_TICKET_CLOSE_CODES[code] ?? FALLBACK_CLOSE_CODE`): 'constructor' reads
// Object, ws.close(Object, …) throws, and the user's socket stays open (the throw is swallowed by
// ConnectionRegistries' allSettled). The same holds for disconnectUser(id, 'constructor') from JS.
describe('the channel between instances: a code that names an Object.prototype member', {
  skip,
  timeout: 60_000,
}, () => {
  let redis: RedisServerHandle;
  let instance: Instance;
  before(async () => {
    redis = await startRedisServer();
    instance = await startInstance({
      REDIS_URL: redis.url,
      TRANSPORT: 'ws',
      ISSUE_LIMIT: '0',
    } as const);
  });
  after(async () => {
    await instance?.stop();
    await redis?.stop();
  });

  it("closes the user's raw WebSocket with the fallback 4000 for code 'constructor'", async () => {
    const uuid = await issueTicket(instance.url, 'kim');
    const outcome = await openWs(`${instance.url.replace(/^http/, 'ws')}/ws?uuid=${uuid}`);
    assert.ok(outcome.ok, 'the socket opened');
    const closed = closure(outcome.ws);
    const inspect = await inspector(redis.url);
    try {
      const message = { v: 1, from: 'other', op: 'disconnect', user: 'kim', code: 'constructor' };
      await inspect.publish(CHANNEL, JSON.stringify(message));
      const result = await within(closed, 3000);
      assert.deepEqual(result, { code: 4000, reason: 'constructor' });
    } finally {
      outcome.ws.terminate();
      inspect.destroy();
    }
    assert.equal(instance.alive(), true);
  });
});

// Root cause: the guard registers its connections (ConnectionRegistries.add, which starts the
// channel's subscription) only when it admits its first socket (lib/ws-ticket.guard.ts, admit),
// after onApplicationBootstrap has waited for a subscription that did not exist: a guard-only
// instance takes its first sockets unsubscribed, and a disconnectUser() elsewhere meanwhile misses
// them.
describe('a guard-only app on a RedisTicketStore', { skip, timeout: 60_000 }, () => {
  let redis: RedisServerHandle;
  let started: StartedApp;
  before(async () => {
    redis = await startRedisServer();
    started = await startApp(
      {
        imports: [
          WsTicketModule.forRoot({
            jwt: { secret: TEST_SECRET },
            store: new RedisTicketStore({ url: redis.url }),
            guardOnly: true,
          }),
        ],
        providers: [ChatTestGateway],
      },
      { adapter: 'plain' },
    );
  });
  after(async () => {
    await started?.close();
    await redis?.stop();
  });

  it('is subscribed to the channel between instances before it admits a socket', async () => {
    const inspect = await inspector(redis.url);
    try {
      assert.equal((await inspect.pubSubNumSub(CHANNEL))[CHANNEL], 1);
    } finally {
      inspect.destroy();
    }
  });
});
