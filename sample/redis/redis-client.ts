import { Logger } from '@nestjs/common';
import { createClient } from 'redis';

/** A node-redis client as the sample creates them. */
export type SampleRedisClient = ReturnType<typeof createClient>;

/** How one of the sample's Redis connections behaves. */
export interface SampleRedisClientOptions {
  /** Shown in `CLIENT LIST` and in the sample's log lines. */
  name: string;
  /**
   * Fail commands at once while disconnected instead of queueing them until Redis is back, and drop
   * a command still unsent after `timeout` ms. Right for request paths (a caller waits); wrong for
   * the Socket.IO adapter, whose commands nobody awaits. A command already sent to a Redis that
   * does not answer is not bounded by this: await it through {@link withRedisTimeout}.
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
    logger.error(
      `Redis connection "${name}" unavailable (${describeRedisError(error)}); retrying.`,
    );
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

/**
 * A sample Redis call that did not settle in time. Its message names the bound only, never the
 * command, its keys or the URL.
 */
export class RedisTimeoutError extends Error {
  override readonly name = 'RedisTimeoutError';

  constructor(timeout: number) {
    super(`Redis did not answer within ${timeout} ms`);
  }
}

/**
 * Runs a Redis call and rejects with {@link RedisTimeoutError} if it has not settled after
 * `timeout` ms. node-redis' own command `timeout` stops applying once the command is on the wire,
 * so a Redis that keeps the connection open but does not answer (paused, swapping, stuck in a slow
 * script) would hold the caller until the kernel gives up on the socket. Every call the sample
 * awaits goes through here.
 *
 * The call is abandoned, not cancelled: if Redis answers later, the command still takes effect
 * (a timed-out `HINCRBY` may bump the session version after the caller got a 503).
 */
export async function withRedisTimeout<T>(call: () => Promise<T>, timeout: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisTimeoutError(timeout)), timeout);
  });
  try {
    return await Promise.race([call(), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** The cause of a Redis error, fit for a log line: anything shaped like URL credentials is masked. */
export function describeRedisError(error: unknown): string {
  const { message, code, name } = (error ?? {}) as {
    message?: string;
    code?: string;
    name?: string;
  };
  // Node reports a refused dual-stack connect as an AggregateError with an empty message.
  const text = message || code || name || 'unknown error';
  return text.replace(/\/\/[^/@\s]*@/g, '//***@');
}
