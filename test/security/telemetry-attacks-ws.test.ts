// Attacks on the telemetry of issue #16 over raw WebSocket: attach() overrides that throw or
// close, clients that vanish mid-upgrade or close while holding the TCP connection, evictions and
// shutdown. Every `accept` must get exactly one `session-end`, carrying the code the client saw.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type Socket as TcpSocket, connect as tcpConnect } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { Module, type ModuleMetadata } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { WebSocket } from 'ws';
import { type WsTicketClaims, WsTicketService } from '../../lib/index.js';
import type { WsTicketSession } from '../../lib/session/index.js';
import { WsTicketWsAdapter } from '../../lib/ws/index.js';
import { ConnectionLog, EchoWsGateway, ticketModule } from '../ws/fixtures/gateways.js';
import { closure, openedWs, openWs } from '../ws/fixtures/ws-app.js';
import { TelemetryLedger } from './telemetry-ledger.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** attach() that fails after the module's part ran: what an app's override may do. */
class ThrowingAttachAdapter extends WsTicketWsAdapter {
  protected override attach(client: WebSocket, session: WsTicketSession, request: IncomingMessage) {
    super.attach(client, session, request);
    if ((session.user as { id: string }).id.startsWith('throw')) throw new Error('app attach bug');
    if ((session.user as { id: string }).id.startsWith('close')) client.close(1000, 'app');
  }
}

/** Users whose `resolveUser` waits this long (ms) at the handshake. */
const slowUsers = new Map<string, number>();

interface Started {
  url: string;
  port: number;
  service: WsTicketService;
  close(): Promise<void>;
}

async function start(options: Parameters<typeof ticketModule>[0] = {}): Promise<Started> {
  const metadata: ModuleMetadata = {
    imports: [
      ticketModule({
        issueLimit: false,
        resolveUser: async (claims: WsTicketClaims) => {
          const wait = slowUsers.get(String(claims.sub));
          if (wait) await sleep(wait);
          return { id: String(claims.sub) };
        },
        ...options,
      }),
    ],
    providers: [EchoWsGateway, ConnectionLog],
  };
  @Module(metadata)
  class AppModule {}
  const app = await NestFactory.create(AppModule, { logger: false });
  app.useWebSocketAdapter(new ThrowingAttachAdapter(app));
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    service: app.get(WsTicketService),
    close: () => app.close(),
  };
}

const issue = async (started: Started, sub: string) =>
  (await started.service.issue({ sub, exp: Math.floor(Date.now() / 1000) + 600 })).uuid;

/** An HTTP upgrade request for `path`, as bytes a bare TCP client writes. */
function upgradeRequest(path: string): string {
  return (
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`
  );
}

/**
 * Upgrades over a bare TCP socket, then sends a masked close frame (1000) and keeps the TCP
 * connection open: the server's socket stays CLOSING until it gives up on the peer.
 */
function closeButHold(port: number, path: string): Promise<TcpSocket> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
      socket.write(upgradeRequest(path));
    });
    socket.once('data', (head: Buffer) => {
      if (!head.toString().startsWith('HTTP/1.1 101')) return reject(new Error(String(head)));
      const mask = randomBytes(4);
      const payload = Buffer.from([0x03, 0xe8]); // 1000
      const masked = payload.map((byte, i) => byte ^ (mask[i % 4] as number));
      socket.write(Buffer.concat([Buffer.from([0x88, 0x80 | payload.length]), mask, masked]));
      resolve(socket);
    });
    socket.on('error', reject);
  });
}

describe('telemetry attacks on raw WebSocket', () => {
  let ledger: TelemetryLedger;
  let started: Started | undefined;
  afterEach(async () => {
    ledger?.stop();
    await started?.close();
    started = undefined;
  });

  it('attach() that throws after super.attach(): refused store_unavailable, never accepted', async () => {
    started = await start();
    ledger = new TelemetryLedger();
    const ws = await openedWs(`${started.url}/ws?uuid=${await issue(started, 'throw-1')}`);
    assert.equal((await closure(ws)).code, 4503);
    await ledger.balanced('attach throws');
    assert.deepEqual(
      [ledger.of('accept').length, ledger.of('refuse').map((event) => event.code)],
      [0, ['store_unavailable']],
    );
  });

  it('attach() that closes the socket itself: one accept, one session-end with code null', async () => {
    started = await start();
    ledger = new TelemetryLedger();
    const ws = await openedWs(`${started.url}/ws?uuid=${await issue(started, 'close-1')}`);
    assert.equal((await closure(ws)).code, 1000);
    await ledger.balanced('attach closes');
    assert.deepEqual(
      ledger.of('sessionEnd').map((event) => event.code),
      [null],
    );
  });

  /** Bare TCP clients that send an upgrade, then drop the connection at moments around its end. */
  async function vanishMidUpgrade(app: Started): Promise<number> {
    const waits = [0, 10, 30, 45, 50, 55, 60, 80];
    for (const [i, wait] of waits.entries()) {
      const sub = `slow-${i}`;
      const uuid = await issue(app, sub);
      slowUsers.set(sub, 50);
      const tcp = tcpConnect(app.port, '127.0.0.1', () =>
        tcp.write(upgradeRequest(`/ws?uuid=${uuid}`)),
      );
      tcp.on('error', () => {});
      await sleep(wait);
      tcp.destroy();
    }
    await sleep(300);
    return waits.length;
  }

  it('a client that vanishes mid-upgrade leaves the books balanced', async () => {
    started = await start();
    ledger = new TelemetryLedger();
    await vanishMidUpgrade(started);
    await ledger.balanced('vanished mid-upgrade');
  });

  it('every upgrade that reached authentication is counted once: accepted or refused', async () => {
    started = await start();
    ledger = new TelemetryLedger();
    const upgrades = await vanishMidUpgrade(started);
    const counted = ledger.of('accept').length + ledger.of('refuse').length;
    assert.equal(counted, upgrades, `accepted + refused of ${upgrades} authenticated upgrades`);
  });

  it('close-oldest on raw ws: the evicted end says connection_limit', async () => {
    started = await start({ maxConnectionsPerUser: 1, onConnectionLimit: 'close-oldest' });
    ledger = new TelemetryLedger();
    const oldest = await openedWs(`${started.url}/ws?uuid=${await issue(started, 'capped')}`);
    const evicted = closure(oldest);
    const newest = await openedWs(`${started.url}/ws?uuid=${await issue(started, 'capped')}`);
    assert.equal((await evicted).reason, 'connection_limit');
    newest.close();
    await ledger.balanced('close-oldest');
    assert.deepEqual(
      ledger.of('sessionEnd').map((event) => event.code),
      ['connection_limit', null],
    );
  });

  it('app shutdown with raw sockets open ends every accepted socket', async () => {
    const app = await start();
    ledger = new TelemetryLedger();
    const sockets = [];
    for (let i = 0; i < 3; i++) {
      sockets.push(await openedWs(`${app.url}/ws?uuid=${await issue(app, `down-${i}`)}`));
    }
    await app.close();
    await ledger.balanced('shutdown');
  });

  it('a socket the client closed is not reported closed by a later disconnectUser', async () => {
    started = await start();
    ledger = new TelemetryLedger();
    const uuid = await issue(started, 'leaver');
    const tcp = await closeButHold(started.port, `/ws?uuid=${uuid}`);
    await sleep(100); // the server has answered the close and waits for the peer's FIN
    const closed = await started.service.disconnectUser('leaver');
    tcp.destroy();
    await ledger.balanced('client close, then disconnectUser');
    assert.deepEqual(
      [closed, ledger.of('sessionEnd').map((event) => event.code)],
      [0, [null]],
      'the client left with 1000 and was never told user_revoked',
    );
  });

  it('the namespace of a raw ws event is the gateway path, whatever URL the client asks for', async () => {
    started = await start();
    ledger = new TelemetryLedger();
    const junk = `/ws?uuid=not-a-ticket&${'x'.repeat(4000)}=1`;
    const outcome = await openWs(`${started.url}${junk}`);
    assert.equal(outcome.ok, false);
    assert.deepEqual(
      ledger.of('refuse').map((event) => [event.code, event.namespace]),
      [['ticket_malformed', '/ws']],
    );
  });
});
