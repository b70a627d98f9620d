import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient } from 'redis';
import { RedisTicketStore } from '../../lib/index.js';
import { type StartedApp, startApp, ticketFor } from '../support/app.js';
import { signJwt } from '../support/jwt.js';
import {
  type RedisServerHandle,
  redisSkipReason,
  startRedisServer,
} from '../support/redis-server.js';
import { connect } from '../support/sockets.js';
import { ConnectionLog, EchoWsGateway, IoEchoGateway, ticketModule } from './fixtures/gateways.js';
import {
  closeAll,
  closeWs,
  openedWs,
  openWs,
  type StartedWsApp,
  startWsApp,
} from './fixtures/ws-app.js';

const skip = redisSkipReason();

describe('raw WebSocket tickets on a shared Redis store', { skip }, () => {
  let redis: RedisServerHandle;
  let client: ReturnType<typeof createClient>;
  let wsApp: StartedWsApp;
  let ioApp: StartedApp;

  before(async () => {
    redis = await startRedisServer();
    client = createClient({ url: redis.url });
    client.on('error', () => {});
    await client.connect();
    const store = new RedisTicketStore({ client });
    wsApp = await startWsApp({
      imports: [ticketModule({ store })],
      providers: [EchoWsGateway, ConnectionLog],
    });
    // A Socket.IO app of the same deployment: its own module instance, the same Redis.
    ioApp = await startApp({ imports: [ticketModule({ store })], providers: [IoEchoGateway] });
  });
  after(async () => {
    await wsApp?.close();
    await ioApp?.close();
    await client?.close();
    await redis?.stop();
  });

  it('lets exactly one of 50 parallel upgrades in with one ticket', async () => {
    const uuid = await ticketFor(wsApp.url, signJwt({ sub: 'alice' }));
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, () => openWs(`${wsApp.wsUrl}/ws?uuid=${uuid}`)),
    );
    assert.equal(outcomes.filter((outcome) => outcome.ok).length, 1);
    assert.ok(outcomes.every((o) => o.ok || (o.status === 401 && o.code === 'ticket_invalid')));
    await closeAll(outcomes);
  });

  it('accepts a ticket issued by the Socket.IO app, which then refuses it as ticket_invalid', async () => {
    const uuid = await ticketFor(ioApp.url, signJwt({ sub: 'bob' }));
    await closeWs(await openedWs(`${wsApp.wsUrl}/ws?uuid=${uuid}`));
    const replay = await connect(`${ioApp.url}/io`, { auth: { uuid } });
    assert.equal(!replay.ok && replay.code, 'ticket_invalid');
  });
});
