// Runs every compiled `*.test.js` under dist/test with Node's test runner.
// `npm test -- <substring>` runs only the files whose path contains the substring.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

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
const result = spawnSync(
  process.execPath,
  ['--test', '--test-reporter=spec', '--test-concurrency=2', ...files],
  { stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } },
);
process.exit(result.status ?? 1);
