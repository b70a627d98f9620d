import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run, runOk } from '../support/commands.js';
import { registrySkipReason } from './support/registry.js';

// Tests run from the repository root (npm test), after build:all.
const root = process.cwd();
/** The app's sources (`test/consumer/app`, left out of this repository's own build). */
const fixture = join(root, 'test', 'consumer', 'app');
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string }>;
};

/**
 * What the app installs beside the tarball, at this repository's locked versions, so that the npm
 * cache `npm ci` filled serves them.
 */
const LOCKED = [
  '@nestjs/common',
  '@nestjs/core',
  '@nestjs/jwt',
  '@nestjs/platform-express',
  '@nestjs/platform-socket.io',
  '@nestjs/platform-ws',
  '@nestjs/websockets',
  '@types/express',
  '@types/node',
  '@types/ws',
  'reflect-metadata',
  'rxjs',
  'socket.io-client',
  'typescript',
  'ws',
];

function locked(name: string): string {
  const version = lock.packages[`node_modules/${name}`]?.version;
  if (!version) throw new Error(`${name} is not in package-lock.json`);
  return `${name}@${version}`;
}

function versionOf(app: string, path: string): string | undefined {
  const file = join(app, 'node_modules', path, 'package.json');
  return existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
    : undefined;
}

/** The JSON line a script of the app printed last. */
function reportOf<T>(stdout: string): T {
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as T;
}

interface MainReport {
  login: number;
  refused: string;
  me: { id: string; name: string };
  platformWs: boolean;
}

const skip = registrySkipReason();

describe('A fresh `nest new`-style app on the packed package', { skip, timeout: 420_000 }, () => {
  let dir = '';
  let app = '';
  const took: Record<string, number> = {};
  const started = Date.now();
  const node = (script: string) =>
    runOk(process.execPath, [join('dist', script)], {
      cwd: app,
      deadline: 30_000,
      env: { JWT_SECRET: 'consumer-test-secret-of-at-least-32-bytes' },
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ws-ticket-consumer-'));
    app = join(dir, 'app');
    await cp(fixture, app, { recursive: true });
    await writeFile(
      join(app, 'package.json'),
      `${JSON.stringify({ name: 'consumer-app', private: true, type: 'module' }, null, 2)}\n`,
    );
    const pack = await runOk('npm', ['pack', '--json', '--pack-destination', dir], {
      cwd: root,
      deadline: 60_000,
    });
    took.pack = pack.took;
    const [{ filename }] = JSON.parse(pack.stdout) as Array<{ filename: string }>;
    const install = await runOk(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        join(dir, filename),
        ...LOCKED.map(locked),
        // The app's own socket.io, the newest 4.8: another copy than the one Nest's package pins.
        'socket.io@^4.8',
      ],
      { cwd: app, deadline: 240_000 },
    );
    took.install = install.took;
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    const steps = Object.entries(took).map(([step, ms]) => `${step} ${(ms / 1000).toFixed(1)} s`);
    console.log(
      `consumer app: ${steps.join(', ')}; in all ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  });

  it('has two socket.io copies: the app’s and the one @nestjs/platform-socket.io pins', () => {
    const own = versionOf(app, 'socket.io');
    const nests = versionOf(app, '@nestjs/platform-socket.io/node_modules/socket.io');
    // What the type check below is for; should Nest's pin reach the newest 4.8, pin the app's
    // socket.io above to a version Nest's does not use.
    assert.ok(own && nests && own !== nests, `socket.io ${own} (app) and ${nests} (Nest)`);
  });

  it('type-checks with skipLibCheck off and exactOptionalPropertyTypes on', async () => {
    const tsc = await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', '.'], {
      cwd: app,
      deadline: 120_000,
    });
    took.tsc = tsc.took;
    assert.equal(tsc.code, 0, `${tsc.stdout}${tsc.stderr}`);
  });

  it('logs in, takes a ticket through the client helper and calls a guarded handler', async () => {
    const main = await node('main.js');
    took.main = main.took;
    const report = reportOf<MainReport>(main.stdout);
    assert.equal(report.login, 201);
    assert.equal(report.refused, 'ticket_missing');
    assert.deepEqual(report.me, { id: 'user-ada', name: 'ada' });
    assert.equal(report.platformWs, true);
  });

  it('serves raw WebSocket clients through nestjs-ws-ticket/ws', async () => {
    const ws = await node('ws-main.js');
    took.ws = ws.took;
    assert.deepEqual(reportOf(ws.stdout), { name: 'grace', expired: 4001 });
  });

  it('starts and serves Socket.IO clients once @nestjs/platform-ws and ws are uninstalled', async () => {
    const uninstall = await runOk(
      'npm',
      ['uninstall', '--prefer-offline', '--no-audit', '--no-fund', '@nestjs/platform-ws', 'ws'],
      { cwd: app, deadline: 120_000 },
    );
    took.uninstall = uninstall.took;
    // `ws` itself stays, as engine.io's dependency; what this package imports of it is checked by
    // test/lifecycle/optional-peers.test.ts.
    assert.equal(versionOf(app, '@nestjs/platform-ws'), undefined);
    const main = await node('main.js');
    took.withoutWs = main.took;
    const report = reportOf<MainReport>(main.stdout);
    assert.equal(report.platformWs, false);
    assert.deepEqual(report.me, { id: 'user-ada', name: 'ada' });
  });
});
