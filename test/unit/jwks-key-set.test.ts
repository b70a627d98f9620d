import assert from 'node:assert/strict';
import { afterEach, before, beforeEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { errors, jwtVerify } from 'jose';
import {
  JwksKeySet,
  type JwksKeySetSettings,
  JwksUnavailableError,
  MAX_JWKS_BYTES,
} from '../../lib/bearer/jwks-key-set.js';
import { JwksServer, makeKey, signWith, type TestKey } from '../support/jwks-server.js';

/** Bounds every test: real HTTP on loopback, a hung fetch bounded by its `timeout`. */
const BOUNDED = { timeout: 15_000 };

const COOLDOWN = 10_000;
const MAX_AGE = 60_000;

/** A key set on `server`, on a clock the test moves by hand (milliseconds). */
class Harness {
  time = 0;
  readonly failures: unknown[] = [];
  readonly set: JwksKeySet;

  constructor(server: JwksServer, settings: Partial<JwksKeySetSettings> = {}) {
    this.set = new JwksKeySet(
      {
        uri: new URL(server.uri),
        timeout: 2_000,
        cooldown: COOLDOWN,
        cacheMaxAge: MAX_AGE,
        headers: {},
        ...settings,
      },
      (error) => this.failures.push(error),
      () => this.time,
    );
  }

  /** Verifies a token with the set; resolves its `sub`. */
  async verify(token: string): Promise<string | undefined> {
    const { payload } = await jwtVerify(token, this.set.getKey);
    return payload.sub;
  }
}

/** Waits (bounded) until `check` passes; each round may let an in-flight fetch finish. */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let round = 0; round < 200; round++) {
    if (await check()) return;
    await sleep(20);
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** Whether `promise` rejects with an instance of `type` (the rejection is checked, not swallowed). */
async function rejectsWith<T>(
  promise: Promise<unknown>,
  type: new (...args: never[]) => T,
): Promise<T> {
  const error = await promise.then(
    () => assert.fail(`resolved instead of rejecting with ${type.name}`),
    (thrown: unknown) => thrown,
  );
  assert.ok(error instanceof type, `rejected with ${String(error)}, not ${type.name}`);
  return error as T;
}

describe('JwksKeySet, on an injected clock against a real JWKS endpoint', () => {
  let k1: TestKey;
  let k2: TestKey;
  let k3: TestKey;
  let server: JwksServer;
  let alice: string;
  let bob: string;
  let carol: string;
  /** Tokens whose kid the provider never served. */
  let strangers: string[];

  before(async () => {
    [k1, k2, k3] = await Promise.all([
      makeKey('RS256', 'k1'),
      makeKey('ES256', 'k2'),
      makeKey('RS256', 'k3'),
    ]);
    alice = await signWith(k1, { sub: 'alice' });
    bob = await signWith(k2, { sub: 'bob' });
    carol = await signWith(k3, { sub: 'carol' });
    strangers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => signWith(k1, { sub: 'eve' }, { kid: `made-up-${i}` })),
    );
  });

  // One endpoint per test: each counts its own requests.
  beforeEach(async () => {
    server = await JwksServer.start([k1, k2]);
  });
  afterEach(() => server.stop());

  describe('the cooldown gate', () => {
    it(
      'fetches the set once for the first token, then answers known keys from the cache',
      BOUNDED,
      async () => {
        const keys = new Harness(server);
        assert.equal(server.requests, 0, 'fetched before anything asked');
        assert.equal(await keys.verify(alice), 'alice');
        keys.time = MAX_AGE - 1;
        assert.equal(await keys.verify(bob), 'bob');
        assert.equal(await keys.verify(alice), 'alice');
        assert.equal(server.requests, 1);
      },
    );

    it(
      'refuses an unknown kid from the cache (no matching key) within the cooldown, without fetching',
      BOUNDED,
      async () => {
        const keys = new Harness(server);
        await keys.verify(alice);
        for (const time of [0, 1, COOLDOWN / 2, COOLDOWN - 1]) {
          keys.time = time;
          await rejectsWith(keys.verify(strangers[0]), errors.JWKSNoMatchingKey);
        }
        assert.equal(server.requests, 1);
      },
    );

    it(
      'fetches for unknown kids at most once per cooldown of simulated time',
      BOUNDED,
      async () => {
        const keys = new Harness(server, { cacheMaxAge: 10 * MAX_AGE });
        await keys.verify(alice);
        // Ten unknown kids every simulated second for a minute: one fetch per 10 s, no more.
        for (let time = 0; time <= 60_000; time += 1_000) {
          keys.time = time;
          for (const token of strangers.slice(0, 10)) {
            await rejectsWith(keys.verify(token), errors.JWKSNoMatchingKey);
          }
        }
        assert.equal(server.requests, 1 + 6);
      },
    );

    it(
      'finds a kid the provider added, with one fetch once the cooldown has passed',
      BOUNDED,
      async () => {
        const keys = new Harness(server);
        await keys.verify(alice);
        server.keys = [k1, k2, k3];
        keys.time = COOLDOWN - 1;
        await rejectsWith(keys.verify(carol), errors.JWKSNoMatchingKey);
        assert.equal(server.requests, 1);
        keys.time = COOLDOWN;
        assert.equal(await keys.verify(carol), 'carol');
        assert.equal(server.requests, 2);
      },
    );

    it('drops a kid the provider removed when a new kid makes it refetch', BOUNDED, async () => {
      const keys = new Harness(server);
      await keys.verify(alice);
      server.keys = [k2, k3];
      keys.time = COOLDOWN;
      assert.equal(await keys.verify(carol), 'carol');
      await rejectsWith(keys.verify(alice), errors.JWKSNoMatchingKey);
      assert.equal(server.requests, 2);
    });

    it('shares one fetch between concurrent callers on a cold set', BOUNDED, async () => {
      const keys = new Harness(server);
      const subs = await Promise.all(
        Array.from({ length: 20 }, (_, i) => keys.verify(i % 2 ? alice : bob)),
      );
      assert.deepEqual(new Set(subs), new Set(['alice', 'bob']));
      assert.equal(server.requests, 1);
    });

    it(
      'shares one fetch between concurrent unknown kids once the cooldown has passed',
      BOUNDED,
      async () => {
        const keys = new Harness(server);
        await keys.verify(alice);
        keys.time = COOLDOWN;
        const outcomes = await Promise.allSettled(strangers.map((token) => keys.verify(token)));
        for (const outcome of outcomes) {
          assert.equal(outcome.status, 'rejected');
          assert.ok(outcome.reason instanceof errors.JWKSNoMatchingKey, String(outcome.reason));
        }
        assert.equal(server.requests, 2);
      },
    );
  });

  describe('a stale set', () => {
    it(
      'answers from the cached keys while the refresh runs in the background, then from the new set',
      BOUNDED,
      async () => {
        const keys = new Harness(server, { timeout: 10_000 });
        await keys.verify(alice);
        server.keys = [k2];
        keys.time = MAX_AGE - 1;
        assert.equal(await keys.verify(alice), 'alice');
        assert.equal(server.requests, 1, 'refreshed before the set was stale');
        // The refresh hangs: the cached key must answer while it still hangs.
        server.mode = 'hang';
        keys.time = MAX_AGE;
        assert.equal(await keys.verify(alice), 'alice');
        assert.equal(keys.failures.length, 0, 'the answer waited for the refresh to fail');
        await eventually(async () => server.requests === 2, 'the background refresh');
        assert.equal(await keys.verify(alice), 'alice');
        assert.equal(keys.failures.length, 0, 'the answer waited for the refresh to fail');
        // The endpoint drops the hung request: the refresh fails, the cached keys still answer.
        await server.restart();
        await eventually(async () => keys.failures.length === 1, 'the refresh to fail');
        assert.equal(await keys.verify(alice), 'alice');
        // The next refresh is allowed one cooldown after the last, and this one succeeds.
        server.mode = 'ok';
        keys.time = MAX_AGE + COOLDOWN - 1;
        assert.equal(await keys.verify(alice), 'alice');
        assert.equal(server.requests, 2);
        keys.time = MAX_AGE + COOLDOWN;
        assert.equal(await keys.verify(alice), 'alice', 'the stale set did not answer meanwhile');
        await eventually(
          () =>
            keys.verify(alice).then(
              () => false,
              (error: unknown) => error instanceof errors.JWKSNoMatchingKey,
            ),
          'the removed key to stop verifying',
        );
        assert.equal(await keys.verify(bob), 'bob');
        assert.equal(server.requests, 3);
      },
    );

    it(
      'keeps answering with the cached keys while the endpoint is down, reporting each failed refresh',
      BOUNDED,
      async () => {
        const keys = new Harness(server);
        await keys.verify(alice);
        await server.stop();
        for (let round = 1; round <= 3; round++) {
          keys.time = MAX_AGE + (round - 1) * COOLDOWN;
          assert.equal(await keys.verify(alice), 'alice');
          await eventually(async () => keys.failures.length === round, `failed refresh ${round}`);
          assert.equal(await keys.verify(bob), 'bob');
        }
        // Between two allowed refreshes, nothing is fetched: the failures stay at 3.
        keys.time = MAX_AGE + 2 * COOLDOWN + COOLDOWN / 2;
        assert.equal(await keys.verify(alice), 'alice');
        await sleep(50);
        assert.equal(keys.failures.length, 3);
      },
    );
  });

  describe('failures', () => {
    it(
      'rejects a cold set with JwksUnavailableError, retryAfter the whole seconds of cooldown left',
      BOUNDED,
      async () => {
        server.mode = 'error';
        const keys = new Harness(server);
        const first = await rejectsWith(keys.verify(alice), JwksUnavailableError);
        assert.equal(first.retryAfter, COOLDOWN / 1000);
        assert.ok(first.cause instanceof Error, 'the cause of the failure is lost');
        assert.equal(keys.failures.length, 1);
        for (const [time, retryAfter] of [
          [4_000, 6],
          [8_500, 2],
          [9_999, 1],
        ]) {
          keys.time = time;
          const error = await rejectsWith(keys.verify(bob), JwksUnavailableError);
          assert.equal(error.retryAfter, retryAfter, `at ${time} ms`);
        }
        assert.equal(server.requests, 1, 'fetched again within the cooldown after a failure');
        assert.equal(keys.failures.length, 1);
      },
    );

    it(
      'recovers once the cooldown has passed and the endpoint answers again',
      BOUNDED,
      async () => {
        server.mode = 'error';
        const keys = new Harness(server);
        await rejectsWith(keys.verify(alice), JwksUnavailableError);
        server.mode = 'ok';
        keys.time = COOLDOWN;
        assert.equal(await keys.verify(alice), 'alice');
        assert.equal(server.requests, 2);
        // Recovered: an unknown kid is the provider's "no such key" again, not "unavailable".
        await rejectsWith(keys.verify(strangers[0]), errors.JWKSNoMatchingKey);
        assert.equal(server.requests, 2);
      },
    );

    it(
      'answers an unknown kid JwksUnavailableError while the endpoint fails, and cached kids still verify',
      BOUNDED,
      async () => {
        const keys = new Harness(server);
        await keys.verify(alice);
        server.mode = 'error';
        keys.time = COOLDOWN;
        const error = await rejectsWith(keys.verify(carol), JwksUnavailableError);
        assert.equal(error.retryAfter, COOLDOWN / 1000);
        assert.equal(server.requests, 2);
        assert.equal(await keys.verify(alice), 'alice');
        keys.time = COOLDOWN + 2_000;
        const later = await rejectsWith(keys.verify(strangers[0]), JwksUnavailableError);
        assert.equal(later.retryAfter, 8);
        assert.equal(await keys.verify(bob), 'bob');
        assert.equal(server.requests, 2);
        assert.equal(keys.failures.length, 1);
      },
    );

    it(
      'gives every concurrent caller of a hung fetch JwksUnavailableError after `timeout`, from one request',
      BOUNDED,
      async () => {
        server.mode = 'hang';
        const keys = new Harness(server, { timeout: 300 });
        const outcomes = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) => keys.verify(i % 2 ? alice : strangers[i])),
        );
        for (const outcome of outcomes) {
          assert.equal(outcome.status, 'rejected');
          assert.ok(outcome.reason instanceof JwksUnavailableError, String(outcome.reason));
        }
        assert.equal(server.requests, 1);
        assert.equal(keys.failures.length, 1);
        assert.ok(keys.failures[0] instanceof errors.JWKSTimeout, String(keys.failures[0]));
      },
    );

    const modes = [
      ['error', /answered HTTP 503, not 200/],
      ['garbage', /parse the JSON Web Key Set/],
      ['huge', new RegExp(`larger than ${MAX_JWKS_BYTES} bytes`)],
      ['huge-chunked', new RegExp(`larger than ${MAX_JWKS_BYTES} bytes`)],
      ['gzip-huge', new RegExp(`larger than ${MAX_JWKS_BYTES} bytes`)],
      ['redirect', /answered HTTP 30\d, not 200/],
    ] as const;
    for (const [mode, message] of modes) {
      it(
        `reports a '${mode}' answer as a failure (${message.source}) and serves nothing from it`,
        BOUNDED,
        async () => {
          server.mode = mode;
          const keys = new Harness(server);
          await rejectsWith(keys.verify(alice), JwksUnavailableError);
          assert.equal(keys.failures.length, 1);
          assert.match((keys.failures[0] as Error).message, message);
          assert.equal(server.requests, 1);
        },
      );
    }

    it('abandons a body that stops halfway after `timeout`, as a timeout', BOUNDED, async () => {
      server.mode = 'stall-body';
      const keys = new Harness(server, { timeout: 300 });
      await rejectsWith(keys.verify(alice), JwksUnavailableError);
      assert.equal(keys.failures.length, 1);
      assert.ok(keys.failures[0] instanceof errors.JWKSTimeout, String(keys.failures[0]));
      assert.equal(server.requests, 1);
    });

    it('reports a refused connection as a failure', BOUNDED, async () => {
      await server.stop();
      const keys = new Harness(server);
      await rejectsWith(keys.verify(alice), JwksUnavailableError);
      assert.equal(keys.failures.length, 1);
    });

    it(
      'waits a whole cooldown after a fetch that failed late (timeout longer than the cooldown) before fetching again',
      BOUNDED,
      async () => {
        server.mode = 'hang';
        const keys = new Harness(server, { cooldown: 1_000, timeout: 300 });
        const first = keys.verify(alice);
        await sleep(20);
        // The fetch takes 5 s of the set's time before it times out.
        keys.time = 5_000;
        await rejectsWith(first, JwksUnavailableError);
        const error = await rejectsWith(keys.verify(alice), JwksUnavailableError);
        assert.equal(server.requests, 1, 'the endpoint was asked again right after it failed');
        assert.equal(error.retryAfter, 1);
      },
    );
  });

  it('sends the configured headers with the fetch', BOUNDED, async () => {
    const keys = new Harness(server, { headers: { 'x-api-key': 'gateway-key' } });
    await keys.verify(alice);
    assert.equal(server.lastHeaders?.['x-api-key'], 'gateway-key');
  });
});
