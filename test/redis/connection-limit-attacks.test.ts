// Attacks on maxConnectionsPerUser (issue #19) with a real Redis: real apps on port 0, real clients.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Socket } from 'socket.io-client';
import type { WebSocket } from 'ws';
import { RedisTicketStore, WsTicketModule, WsTicketService } from '../../lib/index.js';
import { ChatTestGateway } from '../fixtures/gateways.js';
import { startApp } from '../support/app.js';
import { TEST_SECRET } from '../support/jwt.js';
import {
  type RedisServerHandle,
  redisSkipReason,
  startRedisServer,
} from '../support/redis-server.js';
import { connect } from '../support/sockets.js';
import { ConnectionLog, EchoWsGateway, ticketModule } from '../ws/fixtures/gateways.js';
import { openedWs, startWsApp } from '../ws/fixtures/ws-app.js';
import { inspector, redisPid } from './support/redis-tools.js';

const skip = redisSkipReason();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function connKey(userId: string): string {
  return `ws-ticket:conn:${createHash('sha256').update(userId).digest('hex')}`;
}

/** Live slots of the user in Redis, read straight from the sorted set. */
async function liveSlots(url: string, userId: string): Promise<number> {
  const client = await inspector(url);
  try {
    const [seconds, micros] = await client.time();
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    return await client.zCount(connKey(userId), `(${now}`, '+inf');
  } finally {
    client.destroy();
  }
}

describe('maxConnectionsPerUser on Redis, under attack', { skip, timeout: 60_000 }, () => {
  let redis: RedisServerHandle;
  before(async () => {
    redis = await startRedisServer();
  });
  after(async () => {
    await redis?.stop();
  });

  it('gives the slots of raw WebSockets back at app shutdown (a rolling deploy)', async () => {
    const server = await startWsApp({
      imports: [
        ticketModule({
          issueLimit: false,
          store: new RedisTicketStore({ url: redis.url }),
          maxConnectionsPerUser: 2,
        }),
      ],
      providers: [EchoWsGateway, ConnectionLog],
    });
    const service = server.app.get(WsTicketService);
    const opened: WebSocket[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const { uuid } = await service.issue({ sub: 'ws-deploy' });
        opened.push(await openedWs(`${server.wsUrl}/ws?uuid=${uuid}`));
      }
      assert.equal(await liveSlots(redis.url, 'ws-deploy'), 2);
    } finally {
      await server.close();
      for (const ws of opened) ws.terminate();
    }
    await sleep(500);
    assert.equal(await liveSlots(redis.url, 'ws-deploy'), 0);
  });

  it("'close-oldest': a handshake refused because Redis stalled past storeTimeout evicts no one", async () => {
    const pid = await redisPid(redis.url);
    /** Redis stalls (SIGSTOP, 600 ms) exactly as the next acquisition is sent. */
    class StallingStore extends RedisTicketStore {
      armed = false;
      override acquireConnection(...args: Parameters<RedisTicketStore['acquireConnection']>) {
        if (this.armed) {
          this.armed = false;
          process.kill(pid, 'SIGSTOP');
          setTimeout(() => process.kill(pid, 'SIGCONT'), 600);
        }
        return super.acquireConnection(...args);
      }
    }
    const store = new StallingStore({ url: redis.url });
    const started = await startApp({
      imports: [
        WsTicketModule.forRoot({
          jwt: { secret: TEST_SECRET },
          issueLimit: false,
          store,
          maxConnectionsPerUser: 1,
          onConnectionLimit: 'close-oldest',
          storeTimeout: 300,
          connectionLease: 3,
        }),
      ],
      providers: [ChatTestGateway],
    });
    const service = started.app.get(WsTicketService);
    const sockets: Socket[] = [];
    try {
      const first = await connect(`${started.url}/chat`, {
        auth: { uuid: (await service.issue({ sub: 'stall' })).uuid },
      });
      assert.ok(first.ok);
      sockets.push(first.socket);
      let closedWith: string | undefined;
      first.socket.on('unauthorized', (payload: { code: string }) => {
        closedWith = payload.code;
      });
      store.armed = true;
      const second = await connect(`${started.url}/chat`, {
        auth: { uuid: (await service.issue({ sub: 'stall' })).uuid },
      });
      if (second.ok) sockets.push(second.socket);
      assert.equal(!second.ok && second.code, 'store_unavailable');
      // Two renewals later: the refused handshake must not have cost the user her open connection.
      await sleep(2500);
      assert.equal(closedWith, undefined, 'the refused handshake evicted the open connection');
      assert.ok(first.socket.connected);
      assert.equal(await service.connectionCount('stall'), 1);
    } finally {
      for (const socket of sockets) socket.close();
      await started.close();
    }
  });
});
