import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { after, before, beforeEach, describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import {
  MemoryTicketStore,
  type TicketStoreMessageListener,
  type TicketStoreUnsubscribe,
  type WsTicketConnectionRegistry,
  type WsTicketErrorCode,
  WsTicketService,
} from '../../lib/index.js';
import { TEST_SECRET } from '../support/jwt.js';
import { CaptureLogger } from '../ws/fixtures/ws-app.js';

/** Pub/sub between stores of one process, as Redis is between instances. */
class Bus extends EventEmitter {
  published: { channel: string; message: string }[] = [];
}

/** A memory store (tickets stay per "instance") whose messages cross a shared {@link Bus}. */
class BusStore extends MemoryTicketStore {
  subscriptions = 0;
  /** When set, subscribe() waits for it (a store that does not answer). */
  hold: Promise<void> | undefined;
  failPublish = false;

  constructor(private readonly bus: Bus) {
    super();
  }

  override async publish(channel: string, message: string): Promise<void> {
    if (this.failPublish) throw new Error('down');
    this.bus.published.push({ channel, message });
    this.bus.emit(channel, message);
  }

  override async subscribe(
    channel: string,
    listener: TicketStoreMessageListener,
  ): Promise<TicketStoreUnsubscribe> {
    await this.hold;
    this.subscriptions += 1;
    this.bus.on(channel, listener);
    return async () => {
      this.subscriptions -= 1;
      this.bus.off(channel, listener);
    };
  }
}

/** A registry recording what it was asked to close. */
function registry(spansInstances?: boolean) {
  const calls: [string, WsTicketErrorCode][] = [];
  const value: WsTicketConnectionRegistry = {
    disconnectUser: (userId, code) => {
      calls.push([userId, code]);
      return 1;
    },
    ...(spansInstances === undefined ? {} : { spansInstances }),
  };
  return { value, calls };
}

function instance(bus: Bus, options: Record<string, unknown> = {}) {
  const store = new BusStore(bus);
  const service = new WsTicketService(
    { jwt: { secret: TEST_SECRET }, storeTimeout: 200, ...options },
    store,
  );
  return { store, service };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('The channel between instances (a store with publish/subscribe)', () => {
  const logger = new CaptureLogger();
  before(() => Logger.overrideLogger(logger));
  after(() => Logger.overrideLogger(false));
  beforeEach(() => {
    logger.lines.length = 0;
  });

  it("passes A's disconnectUser to B's local registries with its code, not to a registry that spans instances, nor back to A", async () => {
    const bus = new Bus();
    const a = instance(bus);
    const b = instance(bus);
    const onA = registry();
    const local = registry();
    const spanning = registry(true);
    a.service.registerConnections(onA.value);
    b.service.registerConnections(local.value);
    b.service.registerConnections(spanning.value);
    await Promise.all([a.service.onApplicationBootstrap(), b.service.onApplicationBootstrap()]);

    assert.equal(await a.service.disconnectUser('u1', 'session_expired'), 1);
    await settle();
    assert.deepEqual(onA.calls, [['u1', 'session_expired']]);
    assert.deepEqual(local.calls, [['u1', 'session_expired']]);
    assert.deepEqual(spanning.calls, []);
    assert.equal(bus.published.length, 1);
    assert.equal(bus.published[0].channel, 'ws-ticket:instances');
    const message = JSON.parse(bus.published[0].message) as Record<string, unknown>;
    assert.deepEqual(
      { op: message.op, user: message.user, code: message.code, v: message.v },
      { op: 'disconnect', user: 'u1', code: 'session_expired', v: 1 },
    );
  });

  it('subscribes only when a registry cannot reach other instances, once, and unsubscribes at shutdown', async () => {
    const bus = new Bus();
    const a = instance(bus);
    a.service.registerConnections(registry(true).value);
    await a.service.onApplicationBootstrap();
    assert.equal(a.store.subscriptions, 0);
    a.service.registerConnections(registry().value);
    a.service.registerConnections(registry(false).value);
    await a.service.onApplicationBootstrap();
    assert.equal(a.store.subscriptions, 1);
    await a.service.onApplicationShutdown();
    assert.equal(a.store.subscriptions, 0);
    assert.equal(bus.listenerCount('ws-ticket:instances'), 0);
  });

  it('says once, naming the cause, when the subscription is not confirmed within storeTimeout; it still counts once confirmed', async () => {
    const bus = new Bus();
    const a = instance(bus);
    let release: () => void = () => {};
    a.store.hold = new Promise((resolve) => {
      release = resolve;
    });
    a.service.registerConnections(registry().value);
    await a.service.onApplicationBootstrap();
    assert.equal(logger.lines.filter((line) => line.includes('Not subscribed')).length, 1);
    release();
    await settle();
    assert.equal(a.store.subscriptions, 1);
    await a.service.onApplicationShutdown();
    assert.equal(a.store.subscriptions, 0);
  });

  it('closes the local sockets and rejects store_unavailable when the message cannot be published', async () => {
    const bus = new Bus();
    const a = instance(bus);
    const onA = registry();
    a.service.registerConnections(onA.value);
    a.store.failPublish = true;
    await assert.rejects(a.service.disconnectUser('u3'), { code: 'store_unavailable' });
    assert.deepEqual(onA.calls, [['u3', 'user_revoked']]);
  });

  it('passes evictions on: the oldest connection, held by B, closes at once when A admits a newer one (one store, close-oldest)', async () => {
    const bus = new Bus();
    const store = new BusStore(bus);
    const options = {
      jwt: { secret: TEST_SECRET },
      maxConnectionsPerUser: 1,
      onConnectionLimit: 'close-oldest',
    } as const;
    const a = new WsTicketService(options, store);
    const b = new WsTicketService(options, store);
    for (const service of [a, b]) service.registerConnections(registry().value);
    const lostOnB: WsTicketErrorCode[] = [];
    const lostOnA: WsTicketErrorCode[] = [];
    await b.holdConnection('u4', new EventEmitter(), (code) => lostOnB.push(code));
    await a.holdConnection('u4', new EventEmitter(), (code) => lostOnA.push(code));
    await settle();
    assert.deepEqual(lostOnB, ['connection_limit']);
    assert.deepEqual(lostOnA, []);
    const evictions = bus.published.filter(({ message }) => message.includes('"op":"evict"'));
    assert.equal(evictions.length, 1);
    await Promise.all([a.onApplicationShutdown(), b.onApplicationShutdown()]);
  });

  it('ignores malformed messages with one warning that never quotes them', async () => {
    const bus = new Bus();
    const b = instance(bus);
    const onB = registry();
    b.service.registerConnections(onB.value);
    await b.service.onApplicationBootstrap();
    for (const message of [
      'LEAK-1',
      '{"v":1,"from":"x","op":"disconnect","user":"u","code":"LEAK 2"}',
      '{"v":1,"from":"x","op":"disconnect","user":"u"}',
      '{"v":1,"from":"x","op":"evict","user":"u","ids":[1]}',
      '{"v":1,"from":7,"op":"disconnect","user":"u","code":"user_revoked"}',
      'y'.repeat(70_000),
    ]) {
      bus.emit('ws-ticket:instances', message);
    }
    assert.deepEqual(onB.calls, []);
    const warnings = logger.lines.filter((line) => line.includes('Ignored a malformed message'));
    assert.equal(warnings.length, 1);
    assert.ok(!logger.lines.some((line) => /LEAK|yyyy/.test(line)));
  });

  it('warns once at startup about a keyPrefix holding a Redis hash tag', () => {
    instance(new Bus(), { keyPrefix: 'app:{tickets}:' });
    instance(new Bus(), { keyPrefix: 'app:tickets:' });
    const warnings = logger.lines.filter((line) => line.includes('hash tag'));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /remove the braces/);
  });
});
