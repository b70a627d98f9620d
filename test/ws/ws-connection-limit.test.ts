import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { WebSocket } from 'ws';
import {
  MemoryTicketStore,
  WS_TICKET_CLOSE_CODES,
  type WsTicketModuleOptions,
  WsTicketService,
} from '../../lib/index.js';
import { PLATFORMS } from '../support/app.js';
import { withDeadline } from '../support/stop-child.js';
import { ConnectionLog, EchoWsGateway, type TestUser, ticketModule } from './fixtures/gateways.js';
import {
  ask,
  closeWs,
  closure,
  openedWs,
  openWs,
  rawUpgrade,
  type StartedWsApp,
  startWsApp,
} from './fixtures/ws-app.js';

const apps: StartedWsApp[] = [];
const sockets: WebSocket[] = [];

afterEach(async () => {
  await Promise.all(sockets.splice(0).map(closeWs));
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

for (const platform of PLATFORMS) {
  describe(`maxConnectionsPerUser on raw WebSocket (${platform})`, () => {
    async function start(options: Partial<WsTicketModuleOptions<TestUser>>) {
      const server = await startWsApp(
        {
          imports: [
            ticketModule({ issueLimit: false, store: new MemoryTicketStore(), ...options }),
          ],
          providers: [EchoWsGateway, ConnectionLog],
        },
        { platform },
      );
      apps.push(server);
      const service = server.app.get(WsTicketService);
      const ticket = async (sub: string, expiresIn = 600) =>
        (await service.issue({ sub, exp: Math.floor(Date.now() / 1000) + expiresIn })).uuid;
      const open = async (sub: string) => {
        const ws = await openedWs(`${server.wsUrl}/ws?uuid=${await ticket(sub)}`);
        sockets.push(ws);
        return ws;
      };
      const counts = async (sub: string, expected: number) => {
        const deadline = Date.now() + 5000;
        let count = await service.connectionCount(sub);
        while (count !== expected && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          count = await service.connectionCount(sub);
        }
        assert.equal(count, expected, `connections of ${sub}`);
      };
      return { server, service, ticket, open, counts };
    }

    it('answers the cap + 1-th upgrade 429 { code: connection_limit }, spends its ticket and leaves the others open', async () => {
      const { server, ticket, open, counts } = await start({ maxConnectionsPerUser: 2 });
      const open2 = [await open('alice'), await open('alice')];
      const uuid = await ticket('alice');
      const answer = await rawUpgrade(`${server.url}/ws?uuid=${uuid}`);
      assert.equal(answer.status, 429);
      assert.deepEqual(JSON.parse(answer.body), { code: 'connection_limit' });
      assert.equal(answer.headers['cache-control'], 'no-store');
      for (const ws of open2) assert.equal((await ask<TestUser>(ws, 'whoami')).id, 'alice');
      await closeWs(open2[0]);
      await counts('alice', 1);
      const again = await openWs(`${server.wsUrl}/ws?uuid=${uuid}`);
      assert.equal(!again.ok && again.code, 'ticket_invalid');
    });

    it('gives the slot back as soon as a socket closes, and counts users apart', async () => {
      const { open, counts, server, ticket } = await start({
        maxConnectionsPerUser: 1,
        connectionLease: 600,
      });
      const first = await open('alice');
      await open('bob');
      const refused = await openWs(`${server.wsUrl}/ws?uuid=${await ticket('alice')}`);
      assert.equal(!refused.ok && refused.status, 429);
      await closeWs(first);
      await counts('alice', 0);
      await open('alice');
      await counts('alice', 1);
      await counts('bob', 1);
    });

    it("'close-oldest' accepts the new socket and closes exactly the oldest with 4409 connection_limit", async () => {
      const { open, counts } = await start({
        maxConnectionsPerUser: 2,
        onConnectionLimit: 'close-oldest',
      });
      const [oldest, second] = [await open('alice'), await open('alice')];
      const closed = withDeadline(closure(oldest), 15_000, 'the oldest socket closing');
      const newest = await open('alice');
      assert.deepEqual(await closed, { code: 4409, reason: 'connection_limit' });
      assert.equal(WS_TICKET_CLOSE_CODES.connection_limit, 4409);
      for (const ws of [second, newest])
        assert.equal((await ask<TestUser>(ws, 'whoami')).id, 'alice');
      await counts('alice', 2);
    });

    it('gives the slots back on disconnectUser and at the end of a session', async () => {
      const { open, counts, service, server, ticket } = await start({ maxConnectionsPerUser: 2 });
      const revoked = [await open('alice'), await open('alice')];
      const closed = revoked.map((ws) => closure(ws));
      await service.disconnectUser('alice');
      assert.deepEqual(
        (await Promise.all(closed)).map((c) => c.reason),
        ['user_revoked', 'user_revoked'],
      );
      await counts('alice', 0);
      const short = await openedWs(`${server.wsUrl}/ws?uuid=${await ticket('alice', 2)}`);
      sockets.push(short);
      await counts('alice', 1);
      assert.equal((await closure(short)).reason, 'session_expired');
      await counts('alice', 0);
    });
  });
}
