import { Logger } from '@nestjs/common';
import { createClient } from 'redis';

/** A node-redis client as the sample creates them. */
export type SampleRedisClient = ReturnType<typeof createClient>;

/** How one of the sample's Redis connections behaves. */
export interface SampleRedisClientOptions {
  /** Shown in `CLIENT LIST` and in the sample's log lines. */
  name: string;
  /**
   * Fail commands at once while disconnected, and after `timeout` ms when Redis does not answer,
   * instead of queueing them until Redis is back. Right for request paths (a caller waits);
   * wrong for the Socket.IO adapter, whose commands nobody awaits.
   */
  failFast?: { timeout: number };
}

/**
 * Creates a node-redis client and connects it in the background (node-redis retries until Redis
 * answers; commands sent meanwhile wait or fail, see `failFast`). node-redis emits `error` on every
 * failed (re)connection and an `error` nobody listens to ends the process, so every client gets a
 * listener here, which logs each outage once and its end once, never the URL.
 */
export function createSampleRedisClient(
  url: string,
  { name, failFast }: SampleRedisClientOptions,
): SampleRedisClient {
  const logger = new Logger('SampleRedis');
  const client: SampleRedisClient = createClient({
    url,
    name,
    disableOfflineQueue: failFast !== undefined,
    commandOptions: failFast ? { timeout: failFast.timeout } : undefined,
  });
  let down = false;
  client.on('error', (error: unknown) => {
    if (down) return;
    down = true;
    logger.error(`Redis connection "${name}" unavailable (${describeError(error)}); retrying.`);
  });
  client.on('ready', () => {
    if (!down) return;
    down = false;
    logger.log(`Redis connection "${name}" is back.`);
  });
  // Failures surface as 'error' events while the client keeps retrying.
  client.connect().catch(() => {});
  return client;
}

/** Closes a client at once: a graceful close would wait forever for a Redis that is down. */
export function closeSampleRedisClient(client: SampleRedisClient): void {
  if (client.isOpen) client.destroy();
}

function describeError(error: unknown): string {
  const { message, code, name } = (error ?? {}) as {
    message?: string;
    code?: string;
    name?: string;
  };
  // Node reports a refused dual-stack connect as an AggregateError with an empty message.
  const text = message || code || name || 'unknown error';
  return text.replace(/\/\/[^/@\s]*@/g, '//***@');
}
