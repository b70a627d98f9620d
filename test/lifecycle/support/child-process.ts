import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** How a child process ended, and what it printed. */
export interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunNodeOptions {
  /** Node options before the script (`--import …`). */
  nodeArgs?: string[];
  /** Added to this process's environment. */
  env?: Record<string, string>;
  /**
   * Milliseconds the child may run. Past it the child is killed and the run fails: a bound on "exits
   * by itself", far above what it needs, not a measurement.
   */
  deadline: number;
}

/** The compiled path of a script in `test/lifecycle/fixtures/`. */
export function lifecycleFixture(name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
}

/** Runs `node … script` and resolves once it exits on its own; rejects if it outlives `deadline`. */
export function runNode(script: string, options: RunNodeOptions): Promise<ChildResult> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), script], {
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `${script} did not exit within ${options.deadline} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`,
        ),
      );
    }, options.deadline);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The last line of `stdout` that parses as JSON: what a fixture reports. */
export function reportOf<T>(result: ChildResult): T {
  const lines = result.stdout.trim().split('\n').reverse();
  for (const line of lines) {
    try {
      return JSON.parse(line) as T;
    } catch {}
  }
  throw new Error(`no JSON report\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
}
