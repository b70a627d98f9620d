import { type INestApplication, Logger, type Type, type WebSocketAdapter } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { WsTicketIoAdapter } from '../lib/index.js';
import { AppModule } from './app.module.js';
import { redactRedisUrl, type SampleConfig } from './config.js';
import { METRICS_ROUTES } from './metrics/metrics.routes.js';
import { RedisWsTicketIoAdapter } from './redis/redis-ws-ticket-io.adapter.js';
import { ShardedRedisWsTicketIoAdapter } from './redis/sharded-ws-ticket-io.adapter.js';
import { WEB_ROUTES } from './web/web.routes.js';

/** How the sample speaks WebSocket: Socket.IO gateways by default. */
export interface SampleTransport {
  gateways?: Type[];
  adapter?: (app: INestApplication) => WebSocketAdapter;
}

/**
 * Builds the sample app (not listening yet). With `config.redisUrl` (or `redisClusterNodes`),
 * tickets, user state, broadcasts (Socket.IO) and kicks go through Redis (a Redis Cluster).
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
  app.useWebSocketAdapter(transport.adapter?.(app) ?? (await socketIoAdapter(app, config)));
  app.enableShutdownHooks();
  logMode(config, transport);
  return app;
}

async function socketIoAdapter(
  app: INestApplication,
  { redisUrl, redisClusterNodes }: SampleConfig,
): Promise<WsTicketIoAdapter> {
  if (redisClusterNodes) return ShardedRedisWsTicketIoAdapter.connect(app, redisClusterNodes);
  return redisUrl ? new RedisWsTicketIoAdapter(app, redisUrl) : new WsTicketIoAdapter(app);
}

function logMode({ redisUrl, redisClusterNodes }: SampleConfig, transport: SampleTransport): void {
  const logger = new Logger('Sample');
  if (!redisUrl && !redisClusterNodes) {
    logger.log(
      'In-memory mode: tickets, users and sockets are local to this process (set REDIS_URL or REDIS_CLUSTER_NODES to run several).',
    );
    return;
  }
  const sockets = transport.adapter
    ? "WebSocket kicks and room messages reach every process (the ticket store's channel); chat messages stay local to this process"
    : 'Socket.IO broadcasts and kicks reach every process';
  const where = redisClusterNodes
    ? `Redis Cluster mode (${redisClusterNodes.map(redactRedisUrl).join(', ')})`
    : `Redis mode (${redactRedisUrl(redisUrl as string)})`;
  logger.log(`${where}: tickets, user state and order shares are shared; ${sockets}.`);
}
