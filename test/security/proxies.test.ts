import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { INestApplication, ModuleMetadata } from '@nestjs/common';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { WsTicketIoAdapter, WsTicketModule, type WsTicketModuleOptions } from '../../lib/index.js';
import { WsTicketWsAdapter } from '../../lib/ws/index.js';
import { ChatTestGateway } from '../fixtures/gateways.js';
import { PLATFORMS, type Platform, ticketFor } from '../support/app.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { connect } from '../support/sockets.js';
import { ConnectionLog, EchoWsGateway } from '../ws/fixtures/gateways.js';
import { CaptureLogger, openWs } from '../ws/fixtures/ws-app.js';

type Headers = Record<string, string>;
type Bind = NonNullable<WsTicketModuleOptions['bind']>;

const VICTIM = '203.0.113.7';
const THIEF = '198.51.100.9';
const EDGE = '173.245.48.5'; // a Cloudflare edge address
const OTHER_EDGE = '173.245.48.9';

/** What nginx (`proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for`) sends upstream. */
function nginx(client: string, incoming?: string): Headers {
  const forwarded = incoming ? `${incoming}, ${client}` : client;
  return { 'x-forwarded-for': forwarded, 'x-real-ip': client };
}

/** What an AWS ALB sends upstream: it appends the client to any incoming X-Forwarded-For. */
function alb(client: string, incoming?: string): Headers {
  return {
    'x-forwarded-for': incoming ? `${incoming}, ${client}` : client,
    'x-forwarded-proto': 'https',
    'x-forwarded-port': '443',
  };
}

interface Started {
  url: string;
  app: INestApplication;
  close(): Promise<void>;
}

/**
 * A real app on port 0, Socket.IO (`io`) or raw ws (`ws`), optionally with the HTTP framework's own
 * proxy trust on (Express `trust proxy`, Fastify `trustProxy`).
 */
async function start(
  platform: Platform,
  transport: 'io' | 'ws',
  bind: Bind,
  options: { frameworkTrustsProxy?: boolean; logger?: CaptureLogger } = {},
): Promise<Started> {
  const metadata: ModuleMetadata = {
    imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET }, bind })],
    providers: transport === 'io' ? [ChatTestGateway] : [EchoWsGateway, ConnectionLog],
  };
  @Module(metadata)
  class ProxyTestModule {}
  const trust = options.frameworkTrustsProxy === true;
  const http =
    platform === 'fastify' ? new FastifyAdapter({ trustProxy: trust }) : new ExpressAdapter();
  const app = await NestFactory.create(ProxyTestModule, http, {
    logger: options.logger ?? (process.env.TEST_LOGS ? undefined : false),
    abortOnError: false,
  });
  if (trust && platform === 'express') app.getHttpAdapter().getInstance().set('trust proxy', true);
  app.useWebSocketAdapter(
    transport === 'io' ? new WsTicketIoAdapter(app) : new WsTicketWsAdapter(app),
  );
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as { port: number };
  return { app, url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

/** Opens a socket with a ticket; resolves the refusal code, or `'accepted'`. */
async function handshake(started: Started, transport: 'io' | 'ws', uuid: string, headers: Headers) {
  if (transport === 'io') {
    const result = await connect(`${started.url}/chat`, { auth: { uuid }, extraHeaders: headers });
    if (result.ok) result.socket.close();
    return result.ok ? 'accepted' : result.code;
  }
  const ws = started.url.replace('http', 'ws');
  const result = await openWs(`${ws}/ws?uuid=${uuid}`, [], { headers });
  if (result.ok) result.ws.close();
  return result.ok ? 'accepted' : `${result.status} ${result.code}`;
}

const REFUSED = { io: 'ticket_binding_mismatch', ws: '403 ticket_binding_mismatch' } as const;

for (const platform of PLATFORMS) {
  for (const transport of ['io', 'ws'] as const) {
    describe(`bind.ip behind proxies [${platform}, ${transport === 'io' ? 'Socket.IO' : 'raw ws'}]`, () => {
      describe('one trusted proxy (trustedProxies: 1)', () => {
        let started: Started;
        before(async () => {
          started = await start(platform, transport, { ip: true, trustedProxies: 1 });
        });
        after(() => started.close());

        for (const [name, proxy] of [
          ['nginx', nginx],
          ['an AWS ALB', alb],
        ] as const) {
          it(`accepts the honest client behind ${name}`, async () => {
            const uuid = await ticketFor(
              started.url,
              signJwt({ sub: '1' }),
              undefined,
              proxy(VICTIM),
            );
            assert.equal(await handshake(started, transport, uuid, proxy(VICTIM)), 'accepted');
          });

          it(`refuses a thief behind ${name} who writes the victim's address first`, async () => {
            const uuid = await ticketFor(
              started.url,
              signJwt({ sub: '1' }),
              undefined,
              proxy(VICTIM),
            );
            const spoofed = proxy(THIEF, VICTIM); // "203.0.113.7, 198.51.100.9"
            assert.equal(await handshake(started, transport, uuid, spoofed), REFUSED[transport]);
          });
        }

        it('ignores what the client wrote left of the proxy entry at issuance too', async () => {
          // The victim's own client sent junk; the proxy appended the real address.
          const uuid = await ticketFor(
            started.url,
            signJwt({ sub: '1' }),
            undefined,
            nginx(VICTIM, '10.9.8.7, not-an-ip'),
          );
          assert.equal(await handshake(started, transport, uuid, nginx(VICTIM)), 'accepted');
        });
      });

      for (const trustedProxies of [2, ['loopback', '173.245.48.0/20']]) {
        describe(`Cloudflare in front of nginx (trustedProxies: ${JSON.stringify(trustedProxies)})`, () => {
          let started: Started;
          before(async () => {
            started = await start(platform, transport, { ip: true, trustedProxies });
          });
          after(() => started.close());

          it('accepts the honest client arriving through another edge', async () => {
            const uuid = await ticketFor(
              started.url,
              signJwt({ sub: '1' }),
              undefined,
              nginx(EDGE, VICTIM),
            );
            assert.equal(
              await handshake(started, transport, uuid, nginx(OTHER_EDGE, VICTIM)),
              'accepted',
            );
          });

          it("refuses a thief who writes the victim's address before Cloudflare's entry", async () => {
            const uuid = await ticketFor(
              started.url,
              signJwt({ sub: '1' }),
              undefined,
              nginx(EDGE, VICTIM),
            );
            const spoofed = nginx(EDGE, `${VICTIM}, ${THIEF}`);
            assert.equal(await handshake(started, transport, uuid, spoofed), REFUSED[transport]);
          });
        });
      }

      it('never reads X-Forwarded-For from a peer that is not a listed proxy', async () => {
        // The app is reached directly (127.0.0.1 is not in 10.0.0.0/8): the TCP peer decides, so
        // forwarded addresses the client makes up change nothing, in either direction.
        const started = await start(platform, transport, {
          ip: true,
          trustedProxies: ['10.0.0.0/8'],
        });
        try {
          const uuid = await ticketFor(
            started.url,
            signJwt({ sub: '1' }),
            undefined,
            nginx(VICTIM),
          );
          assert.equal(await handshake(started, transport, uuid, nginx(THIEF)), 'accepted');
        } finally {
          await started.close();
        }
      });

      it('binds to the TCP peer on both sides when only the framework trusts the proxy, and warns once', async () => {
        const logger = new CaptureLogger();
        const started = await start(
          platform,
          transport,
          { ip: true },
          {
            frameworkTrustsProxy: true,
            logger,
          },
        );
        try {
          for (let i = 0; i < 2; i++) {
            // req.ip is 203.0.113.7 here, the handshake's peer is 127.0.0.1: both sides must use the latter.
            const uuid = await ticketFor(
              started.url,
              signJwt({ sub: '1' }),
              undefined,
              nginx(VICTIM),
            );
            assert.equal(await handshake(started, transport, uuid, nginx(VICTIM)), 'accepted');
          }
          const warnings = logger.lines.filter((line) => line.includes('bind.trustedProxies'));
          assert.equal(warnings.length, 1, logger.lines.join('\n'));
          assert.doesNotMatch(warnings[0], new RegExp(VICTIM.replaceAll('.', '\\.')));
        } finally {
          await started.close();
        }
      });
    });
  }
}

describe('bind.trustedProxies at startup', () => {
  const refusals: Array<[string, unknown, RegExp]> = [
    ['the removed trustProxy flag', { ip: true, trustProxy: true }, /trustedProxies: 1/],
    ['a hop count of 0', { ip: true, trustedProxies: 0 }, /integer from 1 to 16/],
    ['a fractional hop count', { ip: true, trustedProxies: 1.5 }, /integer from 1 to 16/],
    ['a string', { ip: true, trustedProxies: 'loopback' }, /hop count or a list/],
    [
      'an entry that is no address',
      { ip: true, trustedProxies: ['nginx.internal'] },
      /not an IP address/,
    ],
    ['a bad CIDR', { ip: true, trustedProxies: ['10.0.0.0/99'] }, /not an IP address/],
    ['an empty list', { ip: true, trustedProxies: [] }, /empty list/],
    ['bind: true', true, /`bind` must be an object/],
    ["bind.ip: 'true' (an environment string)", { ip: 'true' }, /`bind.ip` must be true or false/],
  ];
  for (const [name, bind, message] of refusals) {
    it(`refuses ${name}, naming the fix`, async () => {
      await assert.rejects(start('express', 'io', bind as Bind), message);
    });
  }

  it('warns when trustedProxies is set without bind.ip', async () => {
    const logger = new CaptureLogger();
    const started = await start('express', 'io', { trustedProxies: 1 }, { logger });
    try {
      assert.ok(logger.lines.some((line) => line.includes('without `bind.ip: true`')));
    } finally {
      await started.close();
    }
  });
});
