import { spawnSync } from 'node:child_process';
import { childEnv } from '../../support/commands.js';

/**
 * Why the consumer tests are skipped, or `false` when they can run: they install from the npm
 * registry. Unreachable, the suite says so loudly; under WS_TICKET_REQUIRE_ALL=1 (CI) it is an
 * error, not a skip.
 */
export function registrySkipReason(): string | false {
  const ping = spawnSync('npm', ['ping', '--fetch-retries=0', '--fetch-timeout=10000'], {
    env: childEnv(),
    stdio: 'ignore',
    timeout: 20_000,
  });
  if (ping.status === 0) return false;
  const reason = 'the npm registry is not reachable: SKIPPING the consumer install tests';
  if (process.env.WS_TICKET_REQUIRE_ALL === '1') {
    throw new Error(`${reason} — but CI requires them`);
  }
  console.warn(`\n\u001b[41m\u001b[97m ${reason} \u001b[0m\n`);
  return reason;
}
