import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lifecycleFixture, runNode } from './support/child-process.js';

// Nest's default abortOnError: true exits the process from inside app.get() on a missing provider,
// after logging its own "could not find": the adapter must not reach that path.
describe('A ticket adapter in a default nest new app without WsTicketModule', () => {
  for (const [adapter, name] of [
    ['io', 'WsTicketIoAdapter'],
    ['ws', 'WsTicketWsAdapter'],
  ] as const) {
    it(`${name}: the process stops at startup with the adapter's message naming the fix`, async () => {
      const result = await runNode(lifecycleFixture('adapter-without-module.js'), {
        env: { ADAPTER: adapter },
        deadline: 15_000,
      });
      const printed = result.stdout + result.stderr;
      assert.notEqual(result.code, 0, printed);
      assert.doesNotMatch(printed, /listening/);
      assert.match(printed, new RegExp(`${name}: WsTicketService not found`));
      assert.match(printed, /import WsTicketModule\.forRoot\(\{ jwt: \{ secret \} \}\)/);
      assert.doesNotMatch(printed, /could not find WsTicketService/i);
    });
  }
});
