import { fileURLToPath } from 'node:url';
import { run } from '../../support/commands.js';

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
export async function runNode(script: string, options: RunNodeOptions): Promise<ChildResult> {
  const { code, stdout, stderr } = await run(
    process.execPath,
    [...(options.nodeArgs ?? []), script],
    { cwd: process.cwd(), deadline: options.deadline, env: { ...options.env } },
  );
  return { code, stdout, stderr };
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
