import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Module } from '@nestjs/common';
import type { createClient } from 'redis';
import { RedisTicketStore, WsTicketModule } from '../../lib/index.js';
import { RedisChatGateway, type WhoAmI } from '../redis/fixtures/chat.gateway.js';
import { connectChat, issueTicket } from '../redis/support/http.js';
import { eventually, withRedisServer } from '../redis/support/redis-tools.js';
import { type StartedApp, startApp } from '../support/app.js';
import { TEST_SECRET } from '../support/jwt.js';
import { type RedisServerHandle, redisSkipReason } from '../support/redis-server.js';
import { ask } from '../support/sockets.js';

type Inspector = ReturnType<typeof createClient>;

/**
 * One module object with one store in its static options, as an e2e suite declares it once and
 * builds an app from it in every `beforeEach`.
 */
function moduleWithStaticStore(url: string) {
  const store = new RedisTicketStore({ url });
  @Module({
    imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, store, storeTimeout: 500 })],
    providers: [RedisChatGateway],
  })
  class ChatModule {}
  return ChatModule;
}

/** Connections the store opened itself (they carry the name ws-ticket). */
async function ownConnections(inspect: Inspector): Promise<number> {
  return (await inspect.clientList()).filter((client) => client.name === 'ws-ticket').length;
}

/** Issues a ticket on `issuer` as `sub` and opens a socket with it on `consumer`. */
async function issueAndConsume(issuer: StartedApp, consumer: StartedApp, sub: string) {
  const outcome = await connectChat(consumer.url, await issueTicket(issuer.url, sub));
  assert.ok(outcome.ok, outcome.ok ? '' : `refused with ${outcome.code}`);
  try {
    assert.equal((await ask<WhoAmI>(outcome.socket, 'whoami')).sub, sub);
  } finally {
    outcome.socket.close();
  }
}

describe('A RedisTicketStore in static options, across apps', {
  skip: redisSkipReason(),
  timeout: 60_000,
}, () => {
  let redis: RedisServerHandle;
  let inspect: Inspector;
  withRedisServer((server, client) => {
    redis = server;
    inspect = client;
  });

  it('serves a second app built from the same module after the first one closed', async () => {
    const ChatModule = moduleWithStaticStore(redis.url);
    for (const round of ['first', 'second']) {
      const app = await startApp({ imports: [ChatModule] });
      try {
        await issueAndConsume(app, app, `${round}-user`);
      } finally {
        await app.close();
      }
      await eventually(
        async () => (await ownConnections(inspect)) === 0,
        `the store connection to close with the ${round} app`,
      );
    }
  });

  it('serves two apps alive at once on one connection, and closing one leaves the other working', async () => {
    const ChatModule = moduleWithStaticStore(redis.url);
    const first = await startApp({ imports: [ChatModule] });
    let second: StartedApp | undefined;
    let firstOpen = true;
    try {
      second = await startApp({ imports: [ChatModule] });
      assert.equal(await ownConnections(inspect), 1);
      await issueAndConsume(first, second, 'alice');
      await issueAndConsume(second, first, 'bob');
      firstOpen = false;
      await first.close();
      await issueAndConsume(second, second, 'carol');
      assert.equal(await ownConnections(inspect), 1);
    } finally {
      if (firstOpen) await first.close();
      await second?.close();
    }
    await eventually(
      async () => (await ownConnections(inspect)) === 0,
      'the store connection to close with the last app',
    );
  });
});
