// Runs every compiled `*.test.js` under dist/test with Node's test runner.
// `npm test -- <substring>` runs only the files whose path contains the substring.
//
// A run never hangs: each file gets FILE_LIMIT_MS (Node's --test-timeout bounds a whole file when
// files run in their own processes), a file whose tests are done but whose handles stay open exits
// (--test-force-exit), and past RUN_LIMIT_MS the whole run is killed after naming the test files
// still running. The limits are bounds far above what the files take (the slowest ~25 s), not
// measurements.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const FILE_LIMIT_MS = 5 * 60_000;
const RUN_LIMIT_MS = 25 * 60_000;

const root = join(process.env.TEST_DIST ?? 'dist', 'test');
const filters = process.argv.slice(2);
const files = readdirSync(root, { recursive: true })
  .map((file) => join(root, String(file)))
  .filter((file) => file.endsWith('.test.js'))
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)))
  .sort();
if (files.length === 0) {
  console.error(`no test files under ${root} match ${filters.join(', ') || '*.test.js'}`);
  process.exit(1);
}

const runner = spawn(
  process.execPath,
  [
    '--test',
    '--test-reporter=spec',
    '--test-concurrency=2',
    `--test-timeout=${FILE_LIMIT_MS}`,
    '--test-force-exit',
    ...files,
  ],
  // Its own process group, so the watchdog can end the runner and every file process it started.
  { stdio: 'inherit', detached: true, env: { ...process.env, NODE_ENV: 'test' } },
);

/** Descendants of `pid` whose command line names a test file, read from /proc (Linux). */
function runningTestFiles(pid) {
  const found = [];
  const visit = (parent) => {
    let children = [];
    try {
      children = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .filter(Boolean);
    } catch {
      return;
    }
    for (const child of children) {
      try {
        const argv = readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0');
        found.push(...argv.filter((arg) => arg.endsWith('.test.js')));
      } catch {}
      visit(child);
    }
  };
  visit(pid);
  return found;
}

const watchdog = setTimeout(() => {
  const running = runningTestFiles(runner.pid);
  console.error(
    `\nThe test run exceeded ${RUN_LIMIT_MS / 60_000} minutes and was stopped.` +
      `\nTest files still running: ${running.length ? running.join(', ') : '(none found)'}`,
  );
  try {
    process.kill(-runner.pid, 'SIGKILL');
  } catch {}
  process.exit(1);
}, RUN_LIMIT_MS);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    try {
      process.kill(-runner.pid, signal);
    } catch {}
  });
}

runner.on('exit', (code, signal) => {
  clearTimeout(watchdog);
  process.exit(code ?? (signal ? 1 : 0));
});
