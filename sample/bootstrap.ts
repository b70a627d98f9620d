import { type INestApplication, Logger, type Type, type WebSocketAdapter } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { WsTicketIoAdapter } from '../lib/index.js';
import { AppModule } from './app.module.js';
import { redactRedisUrl, type SampleConfig } from './config.js';
import { METRICS_ROUTES } from './metrics/metrics.routes.js';
import { RedisWsTicketIoAdapter } from './redis/redis-ws-ticket-io.adapter.js';
import { WEB_ROUTES } from './web/web.routes.js';

/** How the sample speaks WebSocket: Socket.IO gateways by default. */
export interface SampleTransport {
  gateways?: Type[];
  adapter?: (app: INestApplication) => WebSocketAdapter;
}

/**
 * Builds the sample app (not listening yet). With `config.redisUrl`, tickets, user state and (for
 * the default Socket.IO transport) broadcasts and kicks go through Redis.
 */
export async function createSampleApp(
  config: SampleConfig,
  transport: SampleTransport = {},
): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(
    AppModule.register(config, transport.gateways),
    // forceCloseConnections: on shutdown, HTTP keep-alive connections are closed too. Node's
    // server.close() leaves open a connection that was busy at that moment, and a page retrying
    // its ticket request every few seconds keeps it busy for good: the process never exits.
    { logger: ['error', 'warn', 'log'], forceCloseConnections: true },
  );
  // No framework banner, no ETag on API answers (a ticket answer is never cached or revalidated),
  // and no MIME sniffing of any answer.
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(
    (
      _request: unknown,
      response: { setHeader(name: string, value: string): void },
      next: () => void,
    ) => {
      response.setHeader('X-Content-Type-Options', 'nosniff');
      next();
    },
  );
  // Every route under /api, except the chat page at / (WebModule) and GET /metrics (MetricsModule).
  app.setGlobalPrefix('api', { exclude: [...WEB_ROUTES, ...METRICS_ROUTES] });
  app.useWebSocketAdapter(transport.adapter?.(app) ?? socketIoAdapter(app, config));
  app.enableShutdownHooks();
  logMode(config, transport);
  return app;
}

function socketIoAdapter(app: INestApplication, { redisUrl }: SampleConfig): WsTicketIoAdapter {
  return redisUrl ? new RedisWsTicketIoAdapter(app, redisUrl) : new WsTicketIoAdapter(app);
}

function logMode({ redisUrl }: SampleConfig, transport: SampleTransport): void {
  const logger = new Logger('Sample');
  if (!redisUrl) {
    logger.log(
      'In-memory mode: tickets, users and sockets are local to this process (set REDIS_URL to run several).',
    );
    return;
  }
  const sockets = transport.adapter
    ? 'WebSocket broadcasts and kicks stay local to this process'
    : 'Socket.IO broadcasts and kicks reach every process';
  logger.log(
    `Redis mode (${redactRedisUrl(redisUrl)}): tickets and user state are shared; ${sockets}.`,
  );
}
