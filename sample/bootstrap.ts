import type { INestApplication, Type, WebSocketAdapter } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { WsTicketIoAdapter } from '../lib/index.js';
import { AppModule } from './app.module.js';
import type { SampleConfig } from './config.js';

/** Builds the sample app (not listening yet). */
export async function createSampleApp(config: SampleConfig): Promise<INestApplication> {
  const app = await NestFactory.create(AppModule.register(config), {
    logger: ['error', 'warn', 'log'],
  });
  app.setGlobalPrefix('api');
  app.useWebSocketAdapter(new WsTicketIoAdapter(app));
  app.enableShutdownHooks();
  return app;
}
