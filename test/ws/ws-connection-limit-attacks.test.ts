// Attacks on maxConnectionsPerUser (issue #19) over raw WebSocket: a real app on port 0, `ws`.
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { afterEach, describe, it } from 'node:test';
import { type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { WebSocket } from 'ws';
import { MemoryTicketStore, WsTicketService } from '../../lib/index.js';
import type { WsTicketSession } from '../../lib/session/ws-ticket-session.types.js';
import { WsTicketWsAdapter } from '../../lib/ws/index.js';
import { ConnectionLog, EchoWsGateway, type TestUser, ticketModule } from './fixtures/gateways.js';
import { ask, closure, openedWs, openWs } from './fixtures/ws-app.js';

const apps: INestApplication[] = [];

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** An app whose `attach` override fails for one user (a lookup that throws, say). */
class FailingAttachAdapter extends WsTicketWsAdapter {
  protected override attach(
    client: WebSocket,
    session: WsTicketSession,
    request: IncomingMessage,
  ): void {
    super.attach(client, session, request);
    if (session.userId === 'mallory') throw new Error('seat lookup failed');
  }
}

describe('maxConnectionsPerUser on raw WebSocket, under attack', () => {
  it('an attach() override that throws fails that socket, not the process, and gives its slot back', async () => {
    @Module({
      imports: [
        ticketModule({
          issueLimit: false,
          store: new MemoryTicketStore(),
          maxConnectionsPerUser: 1,
        }),
      ],
      providers: [EchoWsGateway, ConnectionLog],
    })
    class AppModule {}
    const app = await NestFactory.create(AppModule, { logger: false });
    apps.push(app);
    app.useWebSocketAdapter(new FailingAttachAdapter(app));
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as { port: number };
    const service = app.get(WsTicketService);
    const url = async (sub: string) =>
      `ws://127.0.0.1:${port}/ws?uuid=${(await service.issue({ sub })).uuid}`;

    // Today the throw escapes the verifyClient promise chain: an unhandled rejection, which ends
    // a Node 20 process (the test runner reports it against this test).
    const outcome = await openWs(await url('mallory'));
    if (outcome.ok) {
      // An override's failure is a failure like authenticate()'s: the socket is closed…
      const closed = await closure(outcome.ws);
      assert.ok(closed.code >= 1011, `closed with ${closed.code}`);
    }
    // …its slot is given back…
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(await service.connectionCount('mallory'), 0);
    // …and everyone else is still served.
    const alice = await openedWs(await url('alice'));
    assert.equal((await ask<TestUser>(alice, 'whoami')).id, 'alice');
    alice.terminate();
  });
});
