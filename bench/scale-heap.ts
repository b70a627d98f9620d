// The scale section's memory rows: one server child per variant holding ~20k sockets that the
// client children open, read after forced full GCs at 0 sockets and at N.
import { sleep } from './client.js';
import { BENCH_USERS } from './constants.js';
import {
  type ClientChild,
  collected,
  shares,
  sockets,
  startScaleServer,
} from './scale-processes.js';
import type { HeapRow } from './scale-report.js';
import type { ClientCommand, HoldReply, ScaleVariant } from './scale-wire.js';

/** Sockets per user with tickets: below the cap (50) and the issuance limit (60 a minute). */
export const PER_USER = 40;
/** Handshakes in flight at once, over all client children. */
export const OPEN_CONCURRENCY = 50;
/** Users past the other sections' (round robin, refresh, cap, telemetry). */
const FIRST_USER = 4 * BENCH_USERS;

/** Every client child opens its share of `total` sockets on `url`; the replies summed. */
async function holdAll(
  clients: ClientChild[],
  url: string,
  variant: ScaleVariant,
  total: number,
  firstUser: number,
) {
  const ticketed = variant.endsWith('-ticket');
  let user = firstUser;
  const replies = await Promise.all(
    shares(total, clients.length).map((count, k) => {
      const command: ClientCommand = {
        op: 'hold',
        url,
        transport: variant.startsWith('io') ? 'io' : 'ws',
        count,
        ticketed,
        firstUser: user,
        perUser: PER_USER,
        concurrency: Math.ceil(OPEN_CONCURRENCY / clients.length),
        localAddress: `127.0.0.${k + 2}`,
      };
      user += Math.ceil(count / PER_USER);
      return clients[k].call<HoldReply>(command);
    }),
  );
  return {
    opened: replies.reduce((sum, r) => sum + r.opened, 0),
    failed: replies.reduce((sum, r) => sum + r.failed, 0),
    retried: replies.reduce((sum, r) => sum + r.retried, 0),
    error: replies.find((r) => r.error)?.error,
    openSeconds: Math.max(...replies.map((r) => r.openMs)) / 1000,
    users: user - firstUser,
  };
}

async function releaseAll(clients: ClientChild[], url: string): Promise<void> {
  await Promise.all(clients.map((client) => client.call({ op: 'release' })));
  const left = await sockets(url, 0);
  if (left.sockets !== 0) throw new Error(`${left.sockets} sockets still open after release`);
}

/** One variant: a fresh server child, warmed up, read at 0 sockets, at `target`, and after. */
export async function heapRow(
  row: HeapRow,
  clients: ClientChild[],
  warmup: number,
  flags: string[],
  log: (line: string) => void,
): Promise<void> {
  const server = await startScaleServer({ variant: row.variant }, flags);
  const { url } = server;
  try {
    let user = FIRST_USER;
    const warm = await holdAll(clients, url, row.variant, warmup, user);
    user += warm.users;
    // A warm-up that mostly failed measures nothing; a few failures (a loaded machine) are said.
    if (warm.failed > warmup / 10) {
      throw new Error(`warm-up: ${warm.failed} failed (${warm.error})`);
    }
    if (warm.failed || warm.retried) {
      log(
        `scale heap ${row.variant}: warm-up: ${warm.failed} failed, ${warm.retried} retried (${warm.error})`,
      );
    }
    await sockets(url, warm.opened);
    await releaseAll(clients, url);
    await sleep(1000);
    row.zero = await collected(url);
    const held = await holdAll(clients, url, row.variant, row.target, user);
    Object.assign(row, {
      failed: held.failed,
      retried: held.retried,
      firstError: held.error,
      openSeconds: held.openSeconds,
    });
    await sockets(url, held.opened);
    await sleep(1000);
    row.held = await collected(url);
    row.reached = row.held.sockets;
    const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`;
    log(
      `scale heap ${row.variant}: ${row.reached}/${row.target} sockets (${held.failed} failed, ` +
        `${held.retried} retried), ` +
        `heap ${mb(row.zero.heapUsed)} → ${mb(row.held.heapUsed)}, RSS ${mb(row.zero.rss)} → ` +
        `${mb(row.held.rss)}, timers ${row.zero.resources.Timeout ?? 0} → ` +
        `${row.held.resources.Timeout ?? 0}, files ${row.held.files}; opened in ` +
        `${held.openSeconds.toFixed(1)} s`,
    );
    await releaseAll(clients, url);
    await sleep(1000);
    row.after = await collected(url);
  } catch (error) {
    row.error = server.alive()
      ? error instanceof Error
        ? error.message
        : String(error)
      : 'server died';
    log(`scale heap ${row.variant}: ${row.error}`);
    await Promise.all(clients.map((client) => client.call({ op: 'release' }).catch(() => {})));
  } finally {
    await server.stop();
  }
}
