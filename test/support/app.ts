import type {
  INestApplication,
  LoggerService,
  ModuleMetadata,
  WebSocketAdapter,
} from '@nestjs/common';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { WsTicketIoAdapter } from '../../lib/index.js';
import { withDeadline } from './stop-child.js';

/** The HTTP platforms every e2e suite runs on, as nestjs/throttler does. */
export const PLATFORMS = ['express', 'fastify'] as const;
export type Platform = (typeof PLATFORMS)[number];

export interface StartedApp {
  app: INestApplication;
  /** `http://127.0.0.1:<port>` */
  url: string;
  close(): Promise<void>;
}

export interface StartOptions {
  /**
   * Which WebSocket adapter: the ticket adapter (default), Nest's plain one (guard-only mode), or
   * one built by a function.
   */
  adapter?: 'ticket' | 'plain' | ((app: INestApplication) => WebSocketAdapter);
  /** Port to listen on (default 0: a free one). */
  port?: number;
  /** HTTP platform (default Express). */
  platform?: Platform;
  /** Global route prefix. */
  prefix?: string;
  /** Where Nest logs go (a `CaptureLogger`, to check what never appears); silent unless TEST_LOGS. */
  logger?: LoggerService;
}

/** Starts a real Nest app on 127.0.0.1, port 0. */
export async function startApp(
  metadata: ModuleMetadata,
  options: StartOptions = {},
): Promise<StartedApp> {
  @Module(metadata)
  class TestAppModule {}

  const httpAdapter = options.platform === 'fastify' ? new FastifyAdapter() : new ExpressAdapter();
  const app = await NestFactory.create(TestAppModule, httpAdapter, {
    logger: options.logger ?? (process.env.TEST_LOGS ? undefined : false),
    // Let startup errors reject instead of exiting the test process.
    abortOnError: false,
  });
  if (options.prefix) app.setGlobalPrefix(options.prefix);
  const { adapter = 'ticket' } = options;
  app.useWebSocketAdapter(
    typeof adapter === 'function'
      ? adapter(app)
      : adapter === 'plain'
        ? new IoAdapter(app)
        : new WsTicketIoAdapter(app),
  );
  await app.listen(options.port ?? 0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1').replace('localhost', '127.0.0.1');
  // app.close() that never returns (a held connection) fails the test by name instead of hanging.
  return { app, url, close: () => withDeadline(app.close(), 15_000, 'app.close()') };
}

/** `startApp` bound to one HTTP platform, for suites repeated over {@link PLATFORMS}. */
export function startOn(platform: Platform) {
  return (metadata: ModuleMetadata, options: StartOptions = {}) =>
    startApp(metadata, { ...options, platform });
}

/** POSTs to the ticket endpoint, with any extra request headers. */
export async function requestTicket(
  url: string,
  token: string | undefined,
  path = '/auth/ws-ticket',
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: 'POST',
    headers: token === undefined ? headers : { ...headers, authorization: `Bearer ${token}` },
  });
}

/** Fetches a ticket and returns its uuid, failing loudly otherwise. */
export async function ticketFor(
  url: string,
  token: string,
  path?: string,
  headers?: Record<string, string>,
): Promise<string> {
  const response = await requestTicket(url, token, path, headers);
  if (response.status !== 201) throw new Error(`ticket endpoint answered ${response.status}`);
  const body = (await response.json()) as { uuid: string };
  return body.uuid;
}
