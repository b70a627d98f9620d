import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as api from '../../lib/index.js';
import * as prometheusApi from '../../lib/prometheus/index.js';
import * as wsApi from '../../lib/ws/index.js';

// Tests run from the repository root (npm test).
const root = `${process.cwd()}/`;
const compiledLib = fileURLToPath(new URL('../../lib/', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));

/** The packages a compiled entry file loads by static import, through its relative imports. */
function staticPackages(entry: string): Set<string> {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const code = readFileSync(file, 'utf8');
    // `import … from 'x'`, `export … from 'x'` and `import 'x'`; never `import('x')`.
    for (const [, specifier] of code.matchAll(
      /(?:^|[\n;])\s*(?:import|export)\s*(?:[^'";]*?\sfrom\s*)?['"]([^'"]+)['"]/g,
    )) {
      if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier));
      else packages.add(specifier);
    }
  };
  visit(entry);
  return packages;
}

describe('Package surface', () => {
  it('maps every exports entry to a library source file', () => {
    for (const [entry, target] of Object.entries(pkg.exports as Record<string, unknown>)) {
      if (typeof target === 'string') continue;
      const { types, default: js } = target as { types: string; default: string };
      const source = js.replace('./dist/', '').replace(/\.js$/, '.ts');
      assert.ok(
        existsSync(`${root}${source}`),
        `${entry} points at ${js}, but ${source} does not exist`,
      );
      assert.equal(types, js.replace(/\.js$/, '.d.ts'));
    }
  });

  it('keeps the client entry free of Nest and Node imports, so browsers can load it', () => {
    const dir = `${compiledLib}client/`;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.js'))) {
      const code = readFileSync(dir + file, 'utf8');
      const specifiers = [...code.matchAll(/(?:import|export)[^'"]*from\s*['"]([^'"]+)['"]/g)].map(
        (m) => m[1],
      );
      for (const specifier of specifiers) {
        assert.ok(specifier.startsWith('./'), `${file} imports ${specifier}`);
      }
    }
  });

  it('exports the module, adapters, guard, decorator, service, stores and error table', () => {
    for (const name of [
      'WsTicketModule',
      'WsTicketService',
      'WsTicketIoAdapter',
      'WsTicketGuard',
      'WsTicketExceptionFilter',
      'WsUser',
      'TicketStore',
      'MemoryTicketStore',
      'RedisTicketStore',
      'WsTicketError',
      'WsTicketErrorCode',
      'attachTicketAuth',
      'ticketAuth',
      'fetchTicket',
      'ticketProtocols',
      'TicketRequestFailure',
    ]) {
      assert.ok(name in api, `${name} is not exported from lib/index.ts`);
    }
  });

  it('exports the raw ws adapter from nestjs-ws-ticket/ws only, with the wire tables on both entries', () => {
    assert.equal(pkg.exports['./ws'].default, './dist/lib/ws/index.js');
    assert.ok(
      'WsTicketWsAdapter' in wsApi,
      'WsTicketWsAdapter is not exported from lib/ws/index.ts',
    );
    assert.ok(!('WsTicketWsAdapter' in api), 'the main entry must not load @nestjs/platform-ws');
    // The same objects, not copies: an app may compare close codes from either entry.
    assert.equal(wsApi.WS_TICKET_CLOSE_CODES, api.WS_TICKET_CLOSE_CODES);
    assert.equal(wsApi.WS_TICKET_REFUSAL_STATUS, api.WS_TICKET_REFUSAL_STATUS);
    assert.equal(wsApi.WS_TICKET_PROTOCOL, api.WS_TICKET_PROTOCOL);
    assert.equal(wsApi.WS_TICKET_PROTOCOL_PREFIX, api.WS_TICKET_PROTOCOL_PREFIX);
    assert.equal(wsApi.DEFAULT_WS_MAX_PAYLOAD, api.DEFAULT_WS_MAX_PAYLOAD);
  });

  it('exports collectWsTicketMetrics from nestjs-ws-ticket/prometheus only, with the telemetry tables on the main entry', () => {
    assert.equal(pkg.exports['./prometheus'].default, './dist/lib/prometheus/index.js');
    assert.equal(typeof prometheusApi.collectWsTicketMetrics, 'function');
    assert.ok(!('collectWsTicketMetrics' in api), 'the main entry must not load prom-client');
    for (const name of ['WS_TICKET_CHANNELS', 'WS_TICKET_METRICS', 'WS_TICKET_DURATION_BUCKETS']) {
      assert.ok(name in api, `${name} is not exported from lib/index.ts`);
    }
  });

  it('loads no optional peer (@opentelemetry/api, prom-client, ws…) from the main entry by static import', () => {
    const optional = Object.keys(pkg.peerDependenciesMeta as Record<string, unknown>);
    assert.ok(optional.includes('@opentelemetry/api') && optional.includes('prom-client'));
    const loaded = staticPackages(`${compiledLib}index.js`);
    assert.ok(loaded.has('@nestjs/common'), 'the import scan finds the required peers');
    assert.deepEqual(
      optional.filter((name) => loaded.has(name)),
      [],
    );
    assert.ok(staticPackages(`${compiledLib}prometheus/index.js`).has('prom-client'));
  });
});
