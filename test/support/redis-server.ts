import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer, Socket } from 'node:net';
import { stopChild } from './stop-child.js';

/** A real redis-server child process on a free loopback port. */
export interface RedisServerHandle {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Stops the server (SIGCONT, SIGTERM, SIGKILL after 5 s) and waits for the exit. Safe to call twice. */
  stop(): Promise<void>;
  /** Starts it again on the same port (after stop()), with an empty dataset. */
  start(): Promise<void>;
}

/** True when `redis-server` is on PATH. */
export function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Why Redis tests are skipped, or `false` when they can run. Without the binary the suite says so
 * loudly; under WS_TICKET_REQUIRE_ALL=1 (CI) a missing binary is an error, not a skip.
 */
export function redisSkipReason(): string | false {
  if (hasRedisServer()) return false;
  const reason =
    'redis-server is not installed: SKIPPING the Redis tests (apt-get install redis-server)';
  if (process.env.WS_TICKET_REQUIRE_ALL === '1')
    throw new Error(`${reason} — but CI requires them`);
  console.warn(`\n\u001b[41m\u001b[97m ${reason} \u001b[0m\n`);
  return reason;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Resolves once *this* redis-server answers PING on `port`: another process that took the port
 * between {@link freePort} and the spawn (test files run two at a time) does not count, and a child
 * that exited (its port was taken) rejects at once instead of waiting out the deadline.
 */
export function waitForRedis(port: number, child: ChildProcess, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const exited = () => child.exitCode !== null || child.signalCode !== null;
    const attempt = () => {
      if (exited()) return reject(new Error(`redis-server exited before listening on ${port}`));
      const socket = new Socket();
      let answer = '';
      let over = false;
      const retry = () => {
        if (over) return;
        over = true;
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`redis-server did not answer on ${port}`));
        else setTimeout(attempt, 25);
      };
      socket.setTimeout(1000, retry);
      socket.on('error', retry);
      socket.on('data', (chunk: Buffer) => {
        answer += chunk.toString('latin1');
        if (over || !answer.includes('\r\n')) return;
        if (!answer.startsWith('+PONG') || exited()) return retry();
        over = true;
        socket.destroy();
        resolve();
      });
      socket.connect(port, '127.0.0.1', () => socket.write('PING\r\n'));
    };
    attempt();
  });
}

/** Starts redis-server on a free port. Call {@link redisSkipReason} first. */
export async function startRedisServer(): Promise<RedisServerHandle> {
  let port = await freePort();
  let child: ChildProcess | undefined;

  const start = async () => {
    if (child) return;
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    const current = child;
    current.once('exit', () => {
      if (child === current) child = undefined;
    });
    await waitForRedis(port, current);
  };

  const stop = async () => {
    const current = child;
    if (!current) return;
    child = undefined;
    await stopChild(current, { name: 'redis-server', graceMs: 5000 });
  };

  // A port taken between freePort() and the spawn: try another one (restarts keep theirs).
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      break;
    } catch (error) {
      await stop();
      if (attempt === 3) throw error;
      port = await freePort();
    }
  }
  return { port, url: `redis://127.0.0.1:${port}`, start, stop };
}
