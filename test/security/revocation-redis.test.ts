import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  RedisTicketStore,
  type WsTicketClaims,
  WsTicketModule,
  WsTicketService,
} from '../../lib/index.js';
import { ChatTestGateway, NotificationsTestGateway } from '../fixtures/gateways.js';
import { type StartedApp, startApp, ticketFor } from '../support/app.js';
import { RawEngineIo } from '../support/engine-io.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import {
  type RedisServerHandle,
  redisSkipReason,
  startRedisServer,
} from '../support/redis-server.js';
import { connect } from '../support/sockets.js';

const skip = redisSkipReason();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Two app instances on one Redis ticket store, without a Socket.IO Redis adapter: what one revokes
 * must still stop the other from admitting anything issued before, through the store alone.
 */
describe('Revocation across two instances on one Redis', { skip }, () => {
  const alice = signJwt({ sub: '1' });
  /** Users whose resolveUser takes long on instance A (to race a revocation on B). */
  const slow = new Set<string>();
  let redis: RedisServerHandle;
  let a: StartedApp;
  let b: StartedApp;
  let onB: WsTicketService;

  const instance = (name: string) =>
    startApp({
      imports: [
        WsTicketModule.forRoot({
          jwt: { secret: TEST_SECRET },
          store: new RedisTicketStore({ url: redis.url }),
          resolveUser: async (claims: WsTicketClaims) => {
            if (name === 'a' && slow.has(String(claims.sub))) await sleep(150);
            return { id: String(claims.sub), name: 'alice' };
          },
        }),
      ],
      providers: [ChatTestGateway, NotificationsTestGateway],
    });

  before(async () => {
    redis = await startRedisServer();
    [a, b] = await Promise.all([instance('a'), instance('b')]);
    onB = b.app.get(WsTicketService);
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await redis?.stop();
  });

  /** A transport on A that used a ticket on /chat and left it. */
  async function idleOnA(): Promise<{ raw: RawEngineIo; uuid: string }> {
    const uuid = await ticketFor(a.url, alice);
    return { raw: await RawEngineIo.idle(a.url, '/chat', uuid), uuid };
  }

  it('refuses re-entry on A after a logout-all on B', async () => {
    const { raw, uuid } = await idleOnA();
    await onB.revokeUserTickets('1');
    await onB.disconnectUser('1');
    const again = await raw.connect('/notifications', { uuid });
    assert.equal(!again.ok && again.code, 'user_revoked');
    raw.close();
  });

  it('refuses on A a ticket issued on A before disconnectUser on B (deleted by it)', async () => {
    const uuid = await ticketFor(a.url, alice);
    await onB.disconnectUser('1');
    const outcome = await connect(`${a.url}/chat`, { auth: { uuid } });
    assert.equal(!outcome.ok && outcome.code, 'ticket_invalid');
  });

  it('refuses on A a handshake whose resolveUser was running when B revoked the user', async () => {
    const uuid = await ticketFor(a.url, alice);
    slow.add('1');
    try {
      const attempt = connect(`${a.url}/chat`, { auth: { uuid } });
      await sleep(60);
      await onB.disconnectUser('1');
      const outcome = await attempt;
      assert.equal(!outcome.ok && outcome.code, 'user_revoked');
    } finally {
      slow.delete('1');
    }
  });

  it('admits on A a ticket issued after the revocation', async () => {
    await onB.disconnectUser('1');
    const outcome = await connect(`${a.url}/chat`, {
      auth: { uuid: await ticketFor(a.url, alice) },
    });
    assert.ok(outcome.ok);
    outcome.socket.close();
  });
});
