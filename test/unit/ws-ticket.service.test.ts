import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { Logger } from '@nestjs/common';
import { TicketStore, WsTicketError, WsTicketService } from '../../lib/index.js';
import { CountingStore } from '../fixtures/stores.js';
import { TEST_SECRET } from '../support/jwt.js';

function service(store = new CountingStore(), options: Record<string, unknown> = {}) {
  return new WsTicketService({ jwt: { secret: TEST_SECRET }, ...options }, store);
}

describe('WsTicketService', () => {
  it('stores a prefixed SHA-256 of the ticket, never the ticket itself', async () => {
    const store = new CountingStore();
    const { uuid } = await service(store).issue({ sub: '1' });
    const [{ key, value, ttl }] = store.puts;
    assert.equal(key, `ws-ticket:${createHash('sha256').update(uuid).digest('hex')}`);
    assert.ok(!value.includes(uuid));
    assert.equal(ttl, 30_000);
  });

  it('returns the resolved user once, then refuses the ticket', async () => {
    const tickets = service(new CountingStore(), {
      resolveUser: (c: { sub: string }) => ({ id: c.sub }),
    });
    const { uuid } = await tickets.issue({ sub: '7' });
    assert.deepEqual(await tickets.consume(uuid), { id: '7' });
    await assert.rejects(tickets.consume(uuid), (e: WsTicketError) => e.code === 'ticket_invalid');
  });

  it('refuses with user_rejected when resolveUser throws WsTicketError user_rejected', async () => {
    const tickets = service(new CountingStore(), {
      resolveUser: () => {
        throw new WsTicketError('user_rejected');
      },
    });
    const { uuid } = await tickets.issue({ sub: '1' });
    assert.equal(await tickets.resolveUser({ sub: '1' }), undefined);
    await assert.rejects(tickets.consume(uuid), (e: WsTicketError) => e.code === 'user_rejected');
  });

  it('treats a corrupt stored record as an invalid ticket', async () => {
    const store = new CountingStore();
    const tickets = service(store);
    const { uuid } = await tickets.issue({ sub: '1' });
    await store.put(store.puts[0].key, 'not json', 1000);
    await assert.rejects(tickets.consume(uuid), (e: WsTicketError) => e.code === 'ticket_invalid');
  });

  it('gives refusals a stable code, data and a message free of the ticket', async () => {
    const uuid = '0b3c7a8e-5f4d-4c2b-9a1e-7d6f5e4c3b2a';
    const error = await service()
      .consume(uuid)
      .catch((e: unknown) => e);
    assert.ok(error instanceof WsTicketError);
    assert.equal(error.message, 'ticket_invalid');
    assert.deepEqual(error.data, { code: 'ticket_invalid' });
    assert.ok(!`${error.message}${error.description}${error.stack}`.includes(uuid));
  });

  it('reads the ticket from auth before the query', () => {
    const tickets = service();
    assert.equal(tickets.ticketFrom({ auth: { uuid: 'a' }, query: { uuid: 'b' } }), 'a');
    assert.equal(tickets.ticketFrom({ auth: {}, query: { uuid: 'b' } }), 'b');
    assert.equal(tickets.ticketFrom({ auth: {}, query: {} }), undefined);
  });

  it('rejects unsafe or impossible options at construction', () => {
    assert.throws(() => service(undefined, { ttl: 0 }), /ttl/);
    assert.throws(() => service(undefined, { ttl: Number.NaN }), /ttl/);
    assert.throws(() => service(undefined, { param: 'a b' }), /param/);
    assert.throws(() => service(undefined, { storeTimeout: -1 }), /storeTimeout/);
    assert.throws(
      () =>
        new WsTicketService({ jwt: { secret: TEST_SECRET, algorithms: [] } }, new CountingStore()),
      /algorithm/,
    );
  });
});

describe('WsTicketService failure logs', () => {
  it('logs a store failure once per window, with URL credentials masked', async () => {
    const lines: string[] = [];
    Logger.overrideLogger({
      log() {},
      error: (m: unknown) => lines.push(String(m)),
      warn: (m: unknown) => lines.push(String(m)),
    });
    try {
      class LeakyStore extends CountingStore {
        override async take(): Promise<string | undefined> {
          throw new Error('connect to redis://user:s3cret@cache:6379 failed');
        }
      }
      const tickets = service(new LeakyStore());
      const { uuid } = await tickets.issue({ sub: '1' });
      for (let i = 0; i < 5; i++) {
        await assert.rejects(
          tickets.consume(uuid),
          (e: WsTicketError) => e.code === 'store_unavailable',
        );
      }
      const failures = lines.filter((line) => line.startsWith('Ticket store failed'));
      assert.equal(failures.length, 1);
      assert.ok(failures[0].includes('redis://***@cache'));
      assert.ok(!lines.join('\n').includes('s3cret'));
    } finally {
      Logger.overrideLogger(false);
    }
  });
});

describe('WsTicketService with a throwing resolveUser', () => {
  it('answers store_unavailable, not user_rejected, and logs the stack once per window', async () => {
    const lines: string[] = [];
    Logger.overrideLogger({
      log() {},
      error: (...parts: unknown[]) => lines.push(parts.map(String).join(' ')),
      warn: (m: unknown) => lines.push(String(m)),
    });
    try {
      const failure = new Error('db down');
      const tickets = service(new CountingStore(), {
        resolveUser: () => {
          throw failure;
        },
      });
      for (let i = 0; i < 3; i++) {
        const { uuid } = await tickets.issue({ sub: 'secret-claims-owner' });
        await assert.rejects(
          tickets.consume(uuid),
          (e: WsTicketError) => e.code === 'store_unavailable' && e.cause === failure,
        );
      }
      const stacks = lines.filter((line) => line.startsWith('resolveUser threw: db down'));
      assert.equal(stacks.length, 1);
      assert.match(stacks[0], /\n\s+at /);
      assert.ok(!lines.join('\n').includes('secret-claims-owner'), 'the claims were logged');
    } finally {
      Logger.overrideLogger(false);
    }
  });
});

describe('WsTicketService with a minimal custom store', () => {
  class PutTakeOnly extends TicketStore {
    private readonly map = new Map<string, string>();
    async put(key: string, value: string) {
      this.map.set(key, value);
    }
    async take(key: string) {
      const value = this.map.get(key);
      this.map.delete(key);
      return value;
    }
  }

  it('refuses to start when the issuance limit needs an increment() the store lacks', () => {
    assert.throws(
      () => new WsTicketService({ jwt: { secret: TEST_SECRET } }, new PutTakeOnly()),
      /increment/,
    );
  });

  it('refuses to start when maxConnectionsPerUser needs connection slots the store lacks, naming the fix', () => {
    assert.throws(
      () =>
        new WsTicketService({ jwt: { secret: TEST_SECRET }, issueLimit: false }, new PutTakeOnly()),
      (error: Error) =>
        /PutTakeOnly has no acquireConnection\(\)\/renewConnections\(\)\/releaseConnection\(\)\/countConnections\(\)/.test(
          error.message,
        ) && /maxConnectionsPerUser: false/.test(error.message),
    );
  });

  it('works with put and take alone once the limits are off', async () => {
    const tickets = new WsTicketService(
      { jwt: { secret: TEST_SECRET }, issueLimit: false, maxConnectionsPerUser: false },
      new PutTakeOnly(),
    );
    const { uuid } = await tickets.issue({ sub: '1' });
    assert.equal(((await tickets.consume(uuid)) as { sub: string }).sub, '1');
  });
});

describe('WsTicketService key handling', () => {
  it('refuses a PEM public key passed as an HMAC secret (algorithm confusion)', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    assert.throws(() => new WsTicketService({ jwt: { secret: pem } }, new CountingStore()), /PEM/);
  });

  it('verifies RS256 tokens against a configured public key', async () => {
    const { generateKeyPairSync, createSign } = await import('node:crypto');
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const tickets = new WsTicketService(
      {
        jwt: {
          publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
          algorithms: ['RS256'],
        },
      },
      new CountingStore(),
    );
    const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const head = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ sub: '1', exp: Math.floor(Date.now() / 1000) + 60 })}`;
    const token = `${head}.${createSign('RSA-SHA256').update(head).sign(privateKey).toString('base64url')}`;
    assert.equal((await tickets.verifyBearer(`Bearer ${token}`)).sub, '1');
    await assert.rejects(
      tickets.verifyBearer(`Bearer ${token.slice(0, -4)}AAAA`),
      /bearer_invalid/,
    );
  });
});

describe('WsTicketService in a module that provides it alone', () => {
  it('resolves without a WsTicketBearerVerifier provider, building its own from the options', async () => {
    const { Test } = await import('@nestjs/testing');
    const { MemoryTicketStore, WS_TICKET_MODULE_OPTIONS } = await import('../../lib/index.js');
    const moduleRef = await Test.createTestingModule({
      providers: [
        { provide: WS_TICKET_MODULE_OPTIONS, useValue: { jwt: { secret: TEST_SECRET } } },
        { provide: TicketStore, useValue: new MemoryTicketStore() },
        WsTicketService,
      ],
    }).compile();
    try {
      const tickets = moduleRef.get(WsTicketService);
      assert.equal(tickets.verifiesBearers, true);
      const { signJwt } = await import('../support/jwt.js');
      assert.equal((await tickets.verifyBearer(`Bearer ${signJwt({ sub: '5' })}`)).sub, '5');
    } finally {
      await moduleRef.close();
    }
  });
});
