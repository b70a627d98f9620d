import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';

// Tests run from the repository root (npm test), after build:all.
const root = process.cwd();
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const REPOSITORY = 'https://github.com/nestjs-ws-ticket/nestjs-ws-ticket';

/** The files `npm pack` would put in the tarball (no network, nothing written). */
async function packedFiles(): Promise<Set<string>> {
  const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json'], {
    cwd: root,
    timeout: 60_000,
  });
  const [report] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>;
  return new Set(report.files.map((file) => file.path));
}

/** Relative link targets of a Markdown file: `[text](path)`, without `#anchor` or `http(s):`. */
function relativeLinks(markdown: string): string[] {
  return [...markdown.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((match) => match[1])
    .filter((target) => !/^(https?:|mailto:|#)/.test(target))
    .map((target) => target.split('#')[0]);
}

describe('The published tarball', () => {
  let files: Set<string>;
  before(async () => {
    files = await packedFiles();
  });

  it('holds README.md, LICENSE and CHANGELOG.md', () => {
    for (const file of ['README.md', 'LICENSE', 'CHANGELOG.md', 'package.json']) {
      assert.ok(files.has(file), `${file} is not in the tarball`);
    }
  });

  it('holds every file the exports map points at', () => {
    for (const target of Object.values(pkg.exports as Record<string, unknown>)) {
      const paths = typeof target === 'string' ? [target] : Object.values(target as object);
      for (const path of paths as string[]) {
        assert.ok(files.has(normalize(path)), `${path} is not in the tarball`);
      }
    }
  });

  it('ships the sources every source map names, so stack traces and go-to-definition work', () => {
    const maps = [...files].filter((file) => file.endsWith('.map'));
    assert.ok(
      maps.some((file) => file.endsWith('.js.map')),
      'no .js.map in the tarball',
    );
    assert.ok(
      maps.some((file) => file.endsWith('.d.ts.map')),
      'no .d.ts.map in the tarball',
    );
    const missing = new Set<string>();
    for (const map of maps) {
      const { sources, sourceRoot } = JSON.parse(readFileSync(join(root, map), 'utf8')) as {
        sources: string[];
        sourceRoot?: string;
      };
      for (const source of sources) {
        const path = normalize(join(dirname(map), sourceRoot ?? '', source));
        if (!files.has(path)) missing.add(`${source} (from ${map})`);
      }
    }
    assert.deepEqual([...missing], []);
  });

  it('ships no tests, samples or benchmarks', () => {
    const stray = [...files].filter((file) => /^(dist\/)?(test|sample|bench)\//.test(file));
    assert.deepEqual(stray, []);
  });

  it('names its repository, homepage and issue tracker', () => {
    assert.equal(pkg.repository?.url, `git+${REPOSITORY}.git`);
    assert.equal(pkg.homepage, `${REPOSITORY}#readme`);
    assert.equal(pkg.bugs?.url, `${REPOSITORY}/issues`);
  });

  it('links only to files of the repository from README.md and CHANGELOG.md (npm resolves relative links against the repository)', () => {
    for (const markdown of ['README.md', 'CHANGELOG.md']) {
      for (const target of relativeLinks(readFileSync(join(root, markdown), 'utf8'))) {
        assert.ok(
          existsSync(join(root, target)),
          `${markdown} links to ${target}, which is missing`,
        );
      }
    }
  });
});
