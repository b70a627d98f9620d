import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { WithoutCachePeersReport } from './fixtures/without-cache-peers.js';
import { lifecycleFixture, reportOf, runNode } from './support/child-process.js';

const OPTIONAL = ['@nestjs/cache-manager', 'cache-manager', 'keyv'];
const compiledLib = fileURLToPath(new URL('../../lib/', import.meta.url));
// Tests run from the repository root (npm test).
const pkg = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8'));

/** A quoted module specifier naming one of the optional packages, in any import form. */
const SPECIFIER = /['"](@nestjs\/cache-manager|cache-manager|keyv)(\/[^'"]*)?['"]/;

describe('@nestjs/cache-manager, cache-manager and keyv are optional', () => {
  it('imports the main entry and issues a ticket on the memory store without them', async () => {
    const result = await runNode(lifecycleFixture('without-cache-peers.js'), {
      nodeArgs: ['--import', lifecycleFixture('hide-cache-peers.js')],
      deadline: 15_000,
    });
    assert.equal(result.code, 0, result.stderr);
    const report = reportOf<WithoutCachePeersReport>(result);
    assert.deepEqual(report.hidden, OPTIONAL, 'the packages were hidden from the process');
    assert.equal(report.store, 'MemoryTicketStore');
    assert.equal(report.status, 201);
    assert.equal(report.ticket, true);
  });

  it('names none of them as a module in the compiled library (JS or .d.ts)', () => {
    const files = readdirSync(compiledLib, { recursive: true })
      .map(String)
      .filter((file) => file.endsWith('.js') || file.endsWith('.d.ts'));
    assert.ok(files.length > 0, `no compiled files under ${compiledLib}`);
    const naming = files.filter((file) =>
      SPECIFIER.test(readFileSync(join(compiledLib, file), 'utf8')),
    );
    assert.deepEqual(naming, []);
  });

  it('declares @nestjs/cache-manager and cache-manager as optional peers', () => {
    for (const name of ['@nestjs/cache-manager', 'cache-manager']) {
      assert.ok(pkg.peerDependencies?.[name], `${name} is a peer`);
      assert.equal(pkg.peerDependenciesMeta?.[name]?.optional, true, `${name} is optional`);
    }
  });
});
