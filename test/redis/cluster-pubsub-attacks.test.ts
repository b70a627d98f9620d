import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RedisTicketStore } from '../../lib/index.js';
import {
  clusterSkipReason,
  type RedisClusterHandle,
  startRedisCluster,
} from './support/redis-cluster.js';
import { CapturingLogger, eventually } from './support/redis-tools.js';

const skip = clusterSkipReason();

// Root cause: RedisClusterConnection.subscribe (lib/stores/redis-ticket.cluster.ts) hands the
// listener to node-redis's sSubscribe as is, unlike RedisTicketPubSub (`url`), which wraps it in a
// try/catch. A throw inside node-redis's reply parser becomes a node 'error': fromClient() takes it
// for trouble, logs "Redis ticket store unavailable (<the listener's message>)", replaces the whole
// cluster client, and messages published during the swap are lost.
describe('RedisTicketStore({ cluster }) subscriptions with a listener that throws', {
  skip,
  timeout: 60_000,
}, () => {
  let cluster: RedisClusterHandle;
  let store: RedisTicketStore;
  const logs = new CapturingLogger();
  before(async () => {
    logs.install();
    cluster = await startRedisCluster({ masters: 3 });
    store = new RedisTicketStore({ cluster: [...cluster.urls] });
    await store.onModuleInit();
  });
  after(async () => {
    await store?.onApplicationShutdown();
    await cluster?.stop();
  });

  it('keeps the client and every later message, and says the store never went away', async () => {
    const received: string[] = [];
    const unsubscribe = await store.subscribe('attacks:channel', (message) => {
      received.push(message);
      if (message === 'first') throw new Error('listener failed on first');
    });
    try {
      await store.publish('attacks:channel', 'first');
      await eventually(() => received.includes('first'), 'the first message', 5000);
      await store.publish('attacks:channel', 'second');
      await eventually(() => received.includes('second'), 'the second message', 3000).catch(
        () => {},
      );
      assert.deepEqual(received, ['first', 'second']);
      assert.equal(logs.count(/store unavailable/), 0, logs.lines.join('\n'));
    } finally {
      await unsubscribe();
    }
  });
});
