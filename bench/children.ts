import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { ServerReady, ServerSpec } from './constants.js';

const SERVER = fileURLToPath(new URL('./server.js', import.meta.url));

/** A bench server running as a child process. */
export interface ServerChild {
  readonly spec: ServerSpec;
  readonly url: string;
  readonly pid: number;
  /** Settles when the process has exited, for whatever reason (a crash included). */
  readonly exited: Promise<ServerExit>;
  /** Whether the process is still running. */
  alive(): boolean;
  stop(): Promise<void>;
}

/** How a server child ended. */
export interface ServerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const running = new Set<ChildProcess>();

/** A Node child process that printed its URL, before the bench knows what it serves. */
export type ListeningChild = Omit<ServerChild, 'spec'>;

/** Spawns `server.js` (with --expose-gc) with a spec and resolves once it printed its URL. */
export async function startServer(
  spec: ServerSpec,
  nodeFlags: string[] = [],
  timeoutMs = 20_000,
): Promise<ServerChild> {
  // A profile named after its variant (and telemetry row), not just a pid.
  const label = spec.telemetry ? `${spec.variant}-${spec.telemetry}` : spec.variant;
  return { spec, ...(await startChild(SERVER, label, JSON.stringify(spec), nodeFlags, timeoutMs)) };
}

/**
 * Spawns `script` (with --expose-gc and an IPC channel, argv[2] = `arg`) and resolves once it
 * printed its {@link ServerReady} line; stopped by {@link stopAllServers} like any server child.
 */
export async function startChild(
  script: string,
  label: string,
  arg: string,
  nodeFlags: string[] = [],
  timeoutMs = 20_000,
): Promise<ListeningChild> {
  const name = nodeFlags.includes('--cpu-prof') ? [`--cpu-prof-name=${label}.cpuprofile`] : [];
  const child = spawn(process.execPath, ['--expose-gc', ...nodeFlags, ...name, script, arg], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  running.add(child);
  const exited = new Promise<ServerExit>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  child.stderr?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      if (line.trim()) console.error(`  [${label}] ${line}`);
    }
  });

  const ready = await new Promise<ServerReady>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => fail(new Error('did not print its URL in time')), timeoutMs);
    const fail = (error: Error) => {
      clearTimeout(timer);
      lines.close();
      reject(new Error(`bench server ${label}: ${error.message}`));
    };
    child.once('exit', (code) => fail(new Error(`exited with ${code} before listening`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      lines.close();
      try {
        resolve(JSON.parse(line) as ServerReady);
      } catch {
        reject(new Error(`bench server ${label}: unexpected first line`));
      }
    });
  });
  // Anything the server prints later is not ours to parse; keep the pipe drained.
  child.stdout?.resume();

  return {
    url: ready.url,
    pid: ready.pid,
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
    stop: () => stopChild(child),
  };
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 8000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Stops every server child still running. */
export async function stopAllServers(): Promise<void> {
  await Promise.all([...running].map(stopChild));
}
