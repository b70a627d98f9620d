import type { INestApplication, Type, WebSocketAdapter } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WsTicketIoAdapter } from '../lib/index.js';
import { AppModule } from './app.module.js';
import type { SampleConfig } from './config.js';

/** How the sample speaks WebSocket: Socket.IO gateways by default. */
export interface SampleTransport {
  gateways?: Type[];
  adapter?: (app: INestApplication) => WebSocketAdapter;
}

/** Builds the sample app (not listening yet). */
export async function createSampleApp(
  config: SampleConfig,
  transport: SampleTransport = {},
): Promise<INestApplication> {
  const app = await NestFactory.create(AppModule.register(config, transport.gateways), {
    logger: ['error', 'warn', 'log'],
  });
  app.setGlobalPrefix('api');
  app.useWebSocketAdapter(transport.adapter?.(app) ?? new WsTicketIoAdapter(app));
  app.enableShutdownHooks();
  return app;
}
