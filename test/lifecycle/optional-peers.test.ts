import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { WithoutOptionalPeersReport } from './fixtures/without-optional-peers.js';
import { lifecycleFixture, reportOf, runNode } from './support/child-process.js';

const OPTIONAL = ['@nestjs/cache-manager', 'cache-manager', 'keyv', '@nestjs/platform-ws', 'ws'];
const compiledLib = fileURLToPath(new URL('../../lib/', import.meta.url));
// Tests run from the repository root (npm test).
const pkg = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8'));

/** A quoted module specifier naming one of the optional packages, in any import form. */
const SPECIFIER = /['"](@nestjs\/cache-manager|cache-manager|keyv)(\/[^'"]*)?['"]/;
/** An import or export `from` a module specifier, or a dynamic or side-effect import of one. */
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g;

/** Every module specifier the files reachable from `entry` (through relative imports) name. */
function specifiersReachedFrom(entry: string): Map<string, string[]> {
  const named = new Map<string, string[]>();
  const queue = [entry];
  const seen = new Set<string>();
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const [, specifier] of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      if (!specifier.startsWith('.')) {
        named.set(specifier, [...(named.get(specifier) ?? []), relative(compiledLib, file)]);
        continue;
      }
      const target = join(dirname(file), specifier);
      queue.push(file.endsWith('.d.ts') ? target.replace(/\.js$/, '.d.ts') : target);
    }
  }
  return named;
}

describe('@nestjs/cache-manager, cache-manager, keyv, @nestjs/platform-ws and ws are optional', () => {
  it('imports the main entry and issues a ticket on the memory store without them', async () => {
    const result = await runNode(lifecycleFixture('without-optional-peers.js'), {
      nodeArgs: ['--import', lifecycleFixture('hide-optional-peers.js')],
      deadline: 15_000,
    });
    assert.equal(result.code, 0, result.stderr);
    const report = reportOf<WithoutOptionalPeersReport>(result);
    assert.deepEqual(report.hidden, OPTIONAL, 'the packages were hidden from the process');
    assert.equal(report.store, 'MemoryTicketStore');
    assert.equal(report.status, 201);
    assert.equal(report.ticket, true);
  });

  it('names none of the cache packages as a module in the compiled library (JS or .d.ts)', () => {
    const files = readdirSync(compiledLib, { recursive: true })
      .map(String)
      .filter((file) => file.endsWith('.js') || file.endsWith('.d.ts'));
    assert.ok(files.length > 0, `no compiled files under ${compiledLib}`);
    const naming = files.filter((file) =>
      SPECIFIER.test(readFileSync(join(compiledLib, file), 'utf8')),
    );
    assert.deepEqual(naming, []);
  });

  it('reaches neither ws nor @nestjs/platform-ws from the main entry (JS or .d.ts)', () => {
    for (const entry of ['index.js', 'index.d.ts']) {
      const named = specifiersReachedFrom(join(compiledLib, entry));
      assert.ok(named.has('@nestjs/common'), `the walk from ${entry} found the library's imports`);
      for (const peer of ['ws', '@nestjs/platform-ws']) {
        const importers = [...named].filter(([s]) => s === peer || s.startsWith(`${peer}/`));
        assert.deepEqual(importers, [], `${entry} reaches ${peer}`);
      }
    }
  });

  it('declares @nestjs/cache-manager, cache-manager, @nestjs/platform-ws and ws as optional peers', () => {
    for (const name of ['@nestjs/cache-manager', 'cache-manager', '@nestjs/platform-ws', 'ws']) {
      assert.ok(pkg.peerDependencies?.[name], `${name} is a peer`);
      assert.equal(pkg.peerDependenciesMeta?.[name]?.optional, true, `${name} is optional`);
    }
  });
});
