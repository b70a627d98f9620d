import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer, Socket } from 'node:net';

/** A real redis-server child process on a free loopback port. */
export interface RedisServerHandle {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Stops the server (SIGTERM, then waits for exit). Safe to call twice. */
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

function waitForPort(port: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = new Socket();
      socket.once('connect', () => {
        socket.destroy();
        resolve();
      });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`redis-server did not listen on ${port}`));
        else setTimeout(attempt, 25);
      });
      socket.connect(port, '127.0.0.1');
    };
    attempt();
  });
}

/** Starts redis-server on a free port. Call {@link redisSkipReason} first. */
export async function startRedisServer(): Promise<RedisServerHandle> {
  const port = await freePort();
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
    await waitForPort(port);
  };

  const stop = async () => {
    const current = child;
    if (!current) return;
    child = undefined;
    await new Promise<void>((resolve) => {
      current.once('exit', () => resolve());
      current.kill('SIGTERM');
    });
  };

  await start();
  return { port, url: `redis://127.0.0.1:${port}`, start, stop };
}
