import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import { WsTicketModule } from '../../lib/index.js';
import { ChatTestGateway, NotificationsTestGateway } from '../fixtures/gateways.js';
import { CountingStore } from '../fixtures/stores.js';
import { TestUsers } from '../fixtures/users.js';
import { CapturingLogger } from '../redis/support/redis-tools.js';
import { type StartedApp, startApp, ticketFor } from '../support/app.js';
import { RawEngineIo } from '../support/engine-io.js';
import {
  CapturingIoAdapter,
  engineConnections,
  internalsOf,
  type ServiceInternals,
} from '../support/internals.js';
import { signJwt, TEST_SECRET } from '../support/jwt.js';
import { connected } from '../support/sockets.js';

/** Refused CONNECTs after which the server closes a transport. */
const MAX_REFUSALS = 10;
const JUNK = 'x'.repeat(900 * 1024);

describe('Floods on one transport', () => {
  const store = new CountingStore();
  const alice = signJwt({ sub: '1' });
  const adapter: { current?: CapturingIoAdapter } = {};
  let started: StartedApp;
  let internals: ServiceInternals;

  before(async () => {
    started = await startApp(
      {
        imports: [
          WsTicketModule.forRoot({
            jwt: { secret: TEST_SECRET },
            resolveUser: new TestUsers().resolve,
            store,
          }),
        ],
        providers: [ChatTestGateway, NotificationsTestGateway],
      },
      {
        adapter: (app) => {
          adapter.current = new CapturingIoAdapter(app);
          return adapter.current;
        },
      },
    );
    internals = internalsOf(started.app).internals;
  });
  after(() => started.close());

  /** The server side of a raw transport. */
  const serverSide = (raw: RawEngineIo) => {
    const connection = engineConnections(adapter.current!.server!)[raw.sid];
    assert.ok(connection, 'the server holds no such transport');
    return connection;
  };

  /** Sends refused CONNECTs until the server closes the transport; resolves how many were answered. */
  async function refusalsUntilClosed(raw: RawEngineIo, auth: () => unknown): Promise<string[]> {
    const codes: string[] = [];
    for (let i = 0; i < MAX_REFUSALS * 3; i++) {
      const answer = await raw.connect('/chat', auth());
      if (answer.ok) assert.fail('a refused ticket was accepted');
      if ('closed' in answer) break;
      codes.push(String(answer.code));
    }
    await raw.whenClosed();
    return codes;
  }

  it('closes a transport after 10 refused 900 KB tickets, with no store access, and keeps serving', async () => {
    const takes = store.takes.length;
    const raw = await RawEngineIo.open(started.url);
    const codes = await refusalsUntilClosed(raw, () => ({ uuid: JUNK }));
    assert.deepEqual(codes, Array(MAX_REFUSALS).fill('ticket_malformed'));
    assert.ok(raw.closed);
    assert.equal(store.takes.length, takes, 'a malformed ticket reached the store');
    (
      await connected(`${started.url}/chat`, {
        auth: { uuid: await ticketFor(started.url, alice) },
      })
    ).close();
  });

  it('remembers nothing for refused well-formed tickets, then closes the transport at the 10th', async () => {
    const raw = await RawEngineIo.open(started.url);
    const connection = serverSide(raw);
    for (let i = 1; i < MAX_REFUSALS; i++) {
      const answer = await raw.connect('/chat', { uuid: randomUUID() });
      assert.equal(!answer.ok && answer.code, 'ticket_invalid');
      assert.equal(internals.connections.sharedCount(connection), 0);
    }
    assert.ok(!raw.closed);
    const last = await raw.connect('/chat', { uuid: randomUUID() });
    assert.equal(!last.ok && last.code, 'ticket_invalid');
    await raw.whenClosed();
  });

  it('forgets refusals of every other shape too: a flood of mixed junk keeps no state', async () => {
    const shapes: unknown[] = [
      { uuid: JUNK },
      { uuid: [randomUUID(), randomUUID()] },
      { uuid: { nested: JUNK.slice(0, 1000) } },
      { uuid: 42 },
      {},
      { uuid: randomUUID().toUpperCase() },
    ];
    for (let round = 0; round < 5; round++) {
      const raw = await RawEngineIo.open(started.url);
      const connection = serverSide(raw);
      let i = 0;
      const codes = await refusalsUntilClosed(raw, () => shapes[i++ % shapes.length]);
      assert.equal(codes.length, MAX_REFUSALS);
      assert.equal(internals.connections.sharedCount(connection), 0);
      assert.equal(engineConnections(adapter.current!.server!)[raw.sid], undefined);
    }
  });

  it('shares one good ticket among the namespaces of one transport, and no other ticket', async () => {
    const takes = store.takes.length;
    const raw = await RawEngineIo.open(started.url);
    const uuid = await ticketFor(started.url, alice);
    const [chat, notifications] = await Promise.all([
      raw.connect('/chat', { uuid }),
      raw.connect('/notifications', { uuid }),
    ]);
    assert.ok(chat.ok && notifications.ok);
    assert.equal(store.takes.length - takes, 1, 'one consumption for both namespaces');
    assert.equal(internals.connections.sharedCount(serverSide(raw)), 1);
    raw.close();
  });
});

describe('Refusal logging under a flood', () => {
  const logger = new CapturingLogger();
  let started: StartedApp;

  before(async () => {
    started = await startApp({
      imports: [WsTicketModule.forRoot({ jwt: { secret: TEST_SECRET } })],
      providers: [ChatTestGateway],
    });
    logger.install();
  });
  after(async () => {
    await started.close();
    Logger.overrideLogger(false);
  });

  it('logs the first refusal of each code at once, then one summary line, and never a ticket or a JWT', async () => {
    const alice = signJwt({ sub: '1' });
    const spent = await ticketFor(started.url, alice);
    (await connected(`${started.url}/chat`, { auth: { uuid: spent } })).close();
    for (let transport = 0; transport < 20; transport++) {
      const raw = await RawEngineIo.open(started.url);
      for (let i = 0; i < 9; i++) {
        await raw.connect('/chat', { uuid: i % 3 === 0 ? alice : spent });
      }
      raw.close();
    }
    const refusalLines = () => logger.lines.filter((line) => /refused/.test(line));
    assert.equal(logger.count(/ticket_invalid/), 1);
    assert.equal(logger.count(/ticket_malformed/), 1);
    internalsOf(started.app).internals.refusals.flush();
    assert.ok(logger.lines.some((line) => /ticket_invalid: 119 more in the last 60 s/.test(line)));
    assert.ok(logger.lines.some((line) => /ticket_malformed: 59 more in the last 60 s/.test(line)));
    assert.equal(refusalLines().length, 4);
    const joined = logger.lines.join('\n');
    assert.ok(!joined.includes(spent), 'a ticket reached the logs');
    assert.ok(!joined.includes(alice.split('.')[1]), 'a JWT reached the logs');
  });
});
