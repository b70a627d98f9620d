import type { ChildProcess } from 'node:child_process';

export interface StopChildOptions {
  /** What the process is, for the error message (`'the sample'`, `'redis-server'`). */
  name: string;
  /** Milliseconds SIGTERM gets before SIGKILL. */
  graceMs: number;
  /**
   * Reject once the process had to be killed: for processes whose clean exit on SIGTERM is part of
   * what the tests check (the sample). Otherwise the kill is silent.
   */
  mustExitOnTerm?: boolean;
  /** Everything the process printed, for the error message. */
  output?: () => string;
}

/**
 * Stops a child process and resolves once it has exited: SIGCONT first (a process paused with
 * SIGSTOP ignores SIGTERM until continued), then SIGTERM, then SIGKILL after `graceMs`. Never waits
 * forever: a test run must fail with a name, not hang.
 */
export function stopChild(child: ChildProcess, options: StopChildOptions): Promise<void> {
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  if (exited()) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, options.graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      if (killed && options.mustExitOnTerm) {
        const printed = options.output ? `\n${options.output()}` : '';
        reject(
          new Error(
            `${options.name} did not exit within ${options.graceMs} ms of SIGTERM${printed}`,
          ),
        );
      } else resolve();
    });
    if (child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGCONT');
      } catch {}
    }
    child.kill('SIGTERM');
  });
}

/**
 * Rejects with a named error once `ms` pass before `promise` settles: for waits in tests and their
 * teardown (`app.close()`, an answer the server must send) that would otherwise hang a test file
 * until the runner's per-file limit. `what` may be a function, read when the time is up (to report
 * what was seen so far).
 */
export function withDeadline<T>(
  promise: Promise<T>,
  ms: number,
  what: string | (() => string),
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const named = typeof what === 'function' ? what() : what;
      reject(new Error(`${named} did not finish within ${ms} ms`));
    }, ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}
