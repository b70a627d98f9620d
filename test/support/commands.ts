import { spawn } from 'node:child_process';

/** How a command ended, and what it printed. */
export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall-clock milliseconds. */
  took: number;
}

export interface RunOptions {
  cwd: string;
  /**
   * Milliseconds the command may run. Past it its whole process group is killed and the run
   * fails: a bound so that a stuck install or server never hangs the suite, not a measurement.
   */
  deadline: number;
  env?: Record<string, string>;
}

/**
 * What the outer `npm test` tells its scripts about this project. A child npm reads `npm_config_*`
 * as its own configuration, and `local_prefix` would make it install into this repository. The
 * machine's configuration (`npm_config_cache`, `_registry`, `_cafile`…) passes on.
 */
const OUTER_PROJECT = /^npm_(config_local_prefix|package_|lifecycle_|command$)/i;

/** The environment of a child npm or app: this process's, less {@link OUTER_PROJECT}. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { NO_COLOR: '1' };
  for (const [key, value] of Object.entries(process.env)) {
    if (!OUTER_PROJECT.test(key)) env[key] = value;
  }
  return { ...env, ...extra };
}

/** Runs `command args` and resolves when it exits; rejects if it outlives `deadline`. */
export function run(command: string, args: string[], options: RunOptions): Promise<CommandResult> {
  const started = Date.now();
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: childEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so that the deadline kills npm's children too.
    detached: true,
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
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
      reject(
        new Error(
          `${command} ${args.join(' ')} did not finish within ${options.deadline} ms\n` +
            `stdout:\n${stdout}\nstderr:\n${stderr}`,
        ),
      );
    }, options.deadline);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, took: Date.now() - started });
    });
  });
}

/** Like {@link run}, but a non-zero exit is an error that quotes the output. */
export async function runOk(
  command: string,
  args: string[],
  options: RunOptions,
): Promise<CommandResult> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited with ${result.code}\n` +
        `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`,
    );
  }
  return result;
}
