import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { createClient } from 'redis';
import { connectionsReceived, withRedisServer } from '../redis/support/redis-tools.js';
import { PLATFORMS } from '../support/app.js';
import { type RedisServerHandle, redisSkipReason } from '../support/redis-server.js';
import type { CacheShutdownReport } from './fixtures/cache-module-shutdown.js';
import { type ChildResult, lifecycleFixture, reportOf, runNode } from './support/child-process.js';

describe('app.close() with the CacheModule-backed store', {
  skip: redisSkipReason(),
  timeout: 60_000,
}, () => {
  let redis: RedisServerHandle;
  let inspect: ReturnType<typeof createClient>;
  withRedisServer((server, client) => {
    redis = server;
    inspect = client;
  });

  for (const platform of PLATFORMS) {
    describe(platform, () => {
      /** How the process ended (or why it had to be killed), and Redis connections it made. */
      let outcome: { result?: ChildResult; error?: unknown; opened?: number } = {};
      const reported = () => {
        if (outcome.result?.code !== 0) throw new Error('the process did not exit cleanly');
        return reportOf<CacheShutdownReport>(outcome.result);
      };
      before(async () => {
        const received = await connectionsReceived(inspect);
        try {
          const result = await runNode(lifecycleFixture('cache-module-shutdown.js'), {
            env: { REDIS_URL: redis.url, PLATFORM: platform },
            deadline: 15_000,
          });
          outcome = { result, opened: (await connectionsReceived(inspect)) - received };
        } catch (error) {
          outcome = { error };
        }
      });

      it('lets the process exit by itself while tickets are requested during app.close()', () => {
        if (outcome.error) throw outcome.error;
        assert.equal(outcome.result?.code, 0, outcome.result?.stderr);
        assert.equal(reported().first, '201:');
      });

      it('answers 503 store_unavailable once the cache closed its client, and does not reopen it', () => {
        const report = reported();
        assert.deepEqual(report.window, Array(3).fill('503:store_unavailable'));
        assert.equal(report.openInWindow, false);
        assert.equal(report.openAfterClose, false);
        assert.equal(outcome.opened, 1, 'the cache connected once, and nothing connected again');
      });

      it('answers every request during app.close() with a ticket, 503, or a closed connection', () => {
        const report = reported();
        // 503 without a code: the platform's own answer while its server closes.
        const allowed = new Set(['201:', '503:store_unavailable', '503:', 'network']);
        const unexpected = report.during.filter((outcome) => !allowed.has(outcome));
        assert.deepEqual(unexpected, []);
      });
    });
  }
});
