// A bench server child: `node server.js '<ServerSpec JSON>'`. Prints one JSON line (ServerReady)
// on stdout once it listens on 127.0.0.1, and exits when told (SIGTERM/SIGINT) or when the bench
// that spawned it goes away (IPC disconnect).
import {
  type DynamicModule,
  type INestApplication,
  Module,
  type Provider,
  type Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { createClient } from 'redis';
import {
  MemoryTicketStore,
  RedisTicketStore,
  type TicketStore,
  WsTicketIoAdapter,
  WsTicketModule,
} from '../lib/index.js';
import { WsTicketWsAdapter } from '../lib/ws/index.js';
import {
  BareRouteController,
  BearerJwtGuard,
  BenchAdminController,
  CapController,
  HeapController,
} from './bench.controller.js';
import { BENCH_SECRET, type ServerSpec } from './constants.js';
import {
  BareChatGateway,
  JwtChatGateway,
  TicketChatGateway,
  TicketWsChatGateway,
} from './gateways.js';
import { serveChild } from './serve-child.js';
import { startTelemetry, TelemetryController, TelemetryProbe } from './telemetry-server.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as ServerSpec;
const cleanups: Array<() => Promise<unknown>> = [];
// Before the app: the module takes the global OpenTelemetry providers when it is created.
const telemetry = spec.telemetry && (await startTelemetry(spec.telemetry));
if (telemetry) cleanups.push(() => telemetry.stop());

async function ticketModule(): Promise<DynamicModule> {
  let store: TicketStore | undefined;
  if (spec.variant === 'ticket-redis') {
    if (!spec.redisUrl) throw new Error('ticket-redis needs redisUrl');
    const client = createClient({ url: spec.redisUrl });
    client.on('error', (error: Error) => console.error(`redis client: ${error.message}`));
    await client.connect();
    cleanups.push(() => client.close());
    store = new RedisTicketStore({ client });
  } else if (spec.variant === 'heap') {
    store = new MemoryTicketStore({ sweepInterval: spec.sweepInterval });
  }
  const { jwks } = spec;
  return WsTicketModule.forRoot({
    jwt: jwks
      ? { jwks: { uri: jwks.uri }, issuer: jwks.issuer, audience: jwks.audience }
      : { secret: BENCH_SECRET },
    ttl: spec.ttl,
    store,
    // The heap bench waits for everything the issuance left behind to expire: tickets after `ttl`,
    // and the per-user issuance counters after their window, made as short.
    issueLimit: spec.variant === 'heap' ? { window: spec.ttl } : undefined,
    maxConnectionsPerUser: spec.maxConnectionsPerUser,
    // Unset outside the telemetry section: the module's default.
    openTelemetry: spec.telemetry === undefined ? undefined : spec.telemetry === 'otel',
  });
}

async function createApp(): Promise<INestApplication> {
  const ticket = spec.variant.startsWith('ticket-') || spec.variant === 'heap';
  const imports: DynamicModule[] = [
    JwtModule.register({ secret: BENCH_SECRET, verifyOptions: { algorithms: ['HS256'] } }),
  ];
  const controllers: Type[] = [BenchAdminController, BareRouteController];
  const providers: Provider[] = [BearerJwtGuard];
  if (ticket) {
    imports.push(await ticketModule());
    providers.push(spec.variant === 'ticket-ws' ? TicketWsChatGateway : TicketChatGateway);
    if (spec.variant === 'heap' || spec.heapHooks) controllers.push(HeapController);
    if (spec.variant === 'ticket-memory' || spec.variant === 'ticket-redis') {
      controllers.push(CapController);
    }
    if (telemetry) {
      controllers.push(TelemetryController);
      providers.push({ provide: TelemetryProbe, useValue: telemetry });
    }
  } else {
    providers.push(spec.variant === 'jwt' ? JwtChatGateway : BareChatGateway);
  }

  @Module({ imports, controllers, providers })
  class BenchAppModule {}

  const app = await NestFactory.create(BenchAppModule, { logger: ['error', 'warn'] });
  // ticket-ws: the adapter's defaults, its 1 MiB maxPayload included.
  app.useWebSocketAdapter(
    spec.variant === 'ticket-ws'
      ? new WsTicketWsAdapter(app)
      : ticket
        ? new WsTicketIoAdapter(app)
        : new IoAdapter(app),
  );
  return app;
}

const app = await createApp();
await serveChild(app, cleanups);
