import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stopChild } from '../../support/stop-child.js';

/** A running `fixtures/instance.js` process. */
export interface Instance {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Everything the process printed so far (stdout and stderr). */
  output(): string;
  /** True while the process runs. */
  alive(): boolean;
  /** Resolves when the process has exited. */
  exited(): Promise<void>;
  /** Ends stdin: the app closes gracefully and the process should exit by itself. */
  close(): void;
  /** SIGTERM (SIGKILL after 10 s), then waits for the exit. Safe to call twice. */
  stop(): Promise<void>;
}

const ENTRY = fileURLToPath(new URL('../fixtures/instance.js', import.meta.url));

/** The environment of `fixtures/instance.js` (see there): strings, as a process gets them. */
export interface InstanceEnv {
  REDIS_URL?: string;
  /** Comma list of a Redis Cluster's node URLs (instead of REDIS_URL). */
  REDIS_CLUSTER_NODES?: string;
  STORE_TIMEOUT?: string;
  MAX_CONNECTIONS?: string;
  ON_CONNECTION_LIMIT?: 'refuse' | 'close-oldest';
  CONNECTION_LEASE?: string;
  /** `'0'`: no issuance limit. */
  ISSUE_LIMIT?: '0';
  TRANSPORT?: 'io' | 'ws';
}

/** Spawns one app instance on `redisUrl` and resolves once it listens. */
export function startInstance(env: InstanceEnv): Promise<Instance> {
  const child = spawn(process.execPath, [ENTRY], {
    env: { ...process.env, ...env, NO_COLOR: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  const exit = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const stop = async () => {
    if (alive()) await stopChild(child, { name: 'the instance', graceMs: 10_000 });
    await exit;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop().catch(() => {});
      reject(new Error(`instance did not start:\n${output}`));
    }, 15_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      for (const line of output.split('\n')) {
        const ready = parseListening(line);
        if (!ready) continue;
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.on('data', (more: Buffer) => {
          output += more.toString();
        });
        resolve({
          url: ready.url,
          pid: ready.pid,
          child,
          output: () => output,
          alive,
          exited: () => exit,
          close: () => child.stdin?.end(),
          stop,
        });
        return;
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`instance exited (${code ?? signal}) before listening:\n${output}`));
    });
  });
}

function parseListening(line: string): { url: string; pid: number } | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const parsed = JSON.parse(line) as { event?: string; url?: string; pid?: number };
    if (parsed.event === 'listening' && parsed.url && parsed.pid) {
      return { url: parsed.url, pid: parsed.pid };
    }
  } catch {
    // a partial line: wait for more output
  }
  return undefined;
}
