// The scale section's processes (bench/scale.ts): its server children (bench/scale-server.ts),
// their hooks, and the client children (bench/scale-clients.ts) that hold sockets and make load.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type ListeningChild, startChild } from './children.js';
import { sleep } from './client.js';
import type { ClientCommand, ClientReply, ScaleServerSpec, ScaleStats } from './scale-wire.js';

const SERVER = fileURLToPath(new URL('./scale-server.js', import.meta.url));
const CLIENT = fileURLToPath(new URL('./scale-clients.js', import.meta.url));

/** A client child process, answering one command (`C`, by its `op`) at a time. */
export class ClientChild<C extends { op: string } = ClientCommand> {
  private sequence = 0;
  private readonly pending = new Map<number, (reply: ClientReply) => void>();

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: ClientReply) => {
      this.pending.get(reply.id)?.(reply);
      this.pending.delete(reply.id);
    });
  }

  /** Forks `script` (the scale section's client child unless told) as client child `index`. */
  static async start<C extends { op: string } = ClientCommand>(
    index: number,
    script = CLIENT,
  ): Promise<ClientChild<C>> {
    const child = spawn(process.execPath, [script], {
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (line.trim()) console.error(`  [clients ${index}] ${line}`);
      }
    });
    const client = new ClientChild<C>(child);
    await new Promise<void>((resolve, reject) => {
      client.pending.set(0, () => resolve());
      child.once('exit', (code) => reject(new Error(`client child exited with ${code}`)));
    });
    return client;
  }

  async call<T>(command: C, timeoutMs = 300_000): Promise<T> {
    const id = ++this.sequence;
    let timer: NodeJS.Timeout | undefined;
    const reply = await new Promise<ClientReply>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`client ${command.op}: no answer`)), timeoutMs);
      this.pending.set(id, resolve);
      this.child.send({ id, command });
    }).finally(() => clearTimeout(timer));
    if (!reply.ok) throw new Error(`client ${command.op}: ${reply.error}`);
    return reply.result as T;
  }

  stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      const kill = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      this.child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      this.child.disconnect();
    });
  }
}

export function startScaleServer(spec: ScaleServerSpec, flags: string[]): Promise<ListeningChild> {
  return startChild(SERVER, `scale-${spec.variant}`, JSON.stringify(spec), flags, 30_000);
}

export async function hook<T>(url: string, path: string, method = 'POST'): Promise<T> {
  const response = await fetch(`${url}/bench/scale/${path}`, { method });
  if (!response.ok) throw new Error(`/bench/scale/${path} answered ${response.status}`);
  return (await response.json()) as T;
}

export const stats = (url: string) => hook<ScaleStats>(url, 'stats', 'GET');
export const collected = (url: string) => hook<ScaleStats>(url, 'gc');

/** Waits until the server holds `expected` sockets (at most `timeoutMs`); its last stats. */
export async function sockets(
  url: string,
  expected: number,
  timeoutMs = 30_000,
): Promise<ScaleStats> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const now = await stats(url);
    if (now.sockets === expected || performance.now() > deadline) return now;
    await sleep(200);
  }
}

/** `total` split into `parts` shares, the first ones one larger. */
export function shares(total: number, parts: number): number[] {
  return Array.from(
    { length: parts },
    (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0),
  );
}
