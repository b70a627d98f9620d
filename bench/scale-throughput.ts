// The scale section's throughput rows: tickets taken per second from one redis-server by a bare
// GETDEL loop and by two app instances (in process, and through Socket.IO handshakes).
import { createClient } from 'redis';
import type { ListeningChild } from './children.js';
import { rotate } from './client.js';
import { BENCH_USERS } from './constants.js';
import { type ClientChild, hook, sockets, startScaleServer, stats } from './scale-processes.js';
import type { ThroughputKey, ThroughputRow, ThroughputRun } from './scale-report.js';
import type { ConsumeReply, TimedReply } from './scale-wire.js';

/** In flight at once, over all processes. */
export const CONCURRENCY = 50;

type RedisClient = ReturnType<typeof createClient>;

/** redis-server's CPU time so far (µs) and its command calls by name (INFO left out). */
async function redisReading(client: RedisClient) {
  const cpu = await client.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(cpu)?.[1]);
  const calls: Record<string, number> = {};
  for (const [, name, n] of (await client.info('commandstats')).matchAll(
    /^cmdstat_([^:]+):calls=(\d+)/gm,
  )) {
    if (name !== 'info') calls[name] = Number(n);
  }
  return { cpu: (field('used_cpu_sys') + field('used_cpu_user')) * 1e6, calls };
}

/** What one timed throughput run did, with Redis read around it. */
async function measured(
  redis: RedisClient,
  count: number,
  work: () => Promise<{
    started: number;
    ended: number;
    done: number;
    node: number;
    client: number;
  }>,
): Promise<ThroughputRun> {
  const before = await redisReading(redis);
  const { started, ended, done, node, client } = await work();
  const after = await redisReading(redis);
  if (done !== count) throw new Error(`${count - done} of ${count} tickets not taken`);
  const seconds = (ended - started) / 1000;
  const redisCpu = after.cpu - before.cpu;
  const commands: Record<string, number> = {};
  for (const [name, n] of Object.entries(after.calls)) {
    const delta = n - (before.calls[name] ?? 0);
    if (delta > 0) commands[name] = delta / count;
  }
  return {
    rate: count / seconds,
    redisCpu: redisCpu / count,
    redisCore: redisCpu / 1e4 / seconds,
    nodeCpu: node / count,
    clientCpu: client / count,
    commands,
  };
}

const span = (replies: Array<{ started: number; ended: number }>) => ({
  started: Math.min(...replies.map((r) => r.started)),
  ended: Math.max(...replies.map((r) => r.ended)),
});

/** The throughput rows' runs, the rows taking turns within each run. */
export async function throughputRows(
  rows: ThroughputRow[],
  redisUrl: string,
  clients: ClientChild[],
  /** Timed runs, after one untimed. */
  runs: number,
  flags: string[],
  log: (line: string) => void,
): Promise<void> {
  const redis: RedisClient = createClient({ url: redisUrl });
  await redis.connect();
  const instances: ListeningChild[] = [];
  try {
    instances.push(
      ...(await Promise.all(
        [0, 1].map(() => startScaleServer({ variant: 'io-redis', redisUrl }, flags)),
      )),
    );
    const [one, two] = clients;
    let user = 10 * BENCH_USERS;
    const runners: Record<ThroughputKey, (count: number, rep: number) => Promise<ThroughputRun>> = {
      'getdel-1': async (count, rep) => {
        await one.call({ op: 'seed', redisUrl, prefix: `bench-getdel:${rep}:1:`, count });
        return measured(redis, count, async () => {
          const r = await one.call<TimedReply>({ op: 'getdel', concurrency: CONCURRENCY });
          return { ...r, node: r.cpu, client: 0 };
        });
      },
      'getdel-2': async (count, rep) => {
        await Promise.all(
          [one, two].map((c, k) =>
            c.call({ op: 'seed', redisUrl, prefix: `bench-getdel:${rep}:${k}:`, count: count / 2 }),
          ),
        );
        return measured(redis, count, async () => {
          const replies = await Promise.all(
            [one, two].map((c) =>
              c.call<TimedReply>({ op: 'getdel', concurrency: CONCURRENCY / 2 }),
            ),
          );
          const done = replies.reduce((sum, r) => sum + r.done, 0);
          return {
            ...span(replies),
            done,
            node: replies.reduce((s, r) => s + r.cpu, 0),
            client: 0,
          };
        });
      },
      consume: async (count) => {
        await Promise.all(
          instances.map((server, k) =>
            hook(server.url, `prepare?n=${count / 2}&user=${user + (k * count) / 2}`),
          ),
        );
        user += count;
        return measured(redis, count, async () => {
          const replies = await Promise.all(
            instances.map((s) =>
              hook<ConsumeReply>(s.url, `consume?concurrency=${CONCURRENCY / 2}`),
            ),
          );
          const done = replies.reduce((sum, r) => sum + r.consumed, 0);
          return {
            ...span(replies),
            done,
            node: replies.reduce((s, r) => s + r.cpu, 0),
            client: 0,
          };
        });
      },
      handshake: async (count) => {
        await Promise.all(
          [one, two].map((c, k) =>
            c.call({
              op: 'fetch',
              url: instances[k].url,
              count: count / 2,
              firstUser: user + (k * count) / 2,
            }),
          ),
        );
        user += count;
        return measured(redis, count, async () => {
          const cpu = await Promise.all(instances.map((s) => stats(s.url)));
          const replies = await Promise.all(
            [one, two].map((c, k) =>
              c.call<TimedReply>({
                op: 'handshakes',
                url: instances[k].url,
                concurrency: CONCURRENCY / 2,
              }),
            ),
          );
          // The slots go back with the closes: the run ends once both instances hold no socket.
          await Promise.all(instances.map((s) => sockets(s.url, 0)));
          const ended = performance.timeOrigin + performance.now();
          const after = await Promise.all(instances.map((s) => stats(s.url)));
          const node = after.reduce((sum, s, k) => sum + s.cpu - cpu[k].cpu, 0);
          const done = replies.reduce((sum, r) => sum + r.done, 0);
          const client = replies.reduce((sum, r) => sum + r.cpu, 0);
          return { started: span(replies).started, ended, done, node, client };
        });
      },
    };
    // One untimed run first: both ends warm up (JIT, Redis's script cache, connections). The rows
    // take turns, the order rotating, so that the machine's drift reaches them alike.
    for (let rep = -1; rep < runs; rep++) {
      const line: string[] = [];
      for (const row of rotate(rows, rep + 1)) {
        const count = rep < 0 ? Math.min(row.count, 2000) : row.count;
        const run = await runners[row.key](count, rep + 1);
        if (rep >= 0) row.runs.push(run);
        line.push(`${row.key} ${run.rate.toFixed(0)}/s (Redis ${run.redisCore.toFixed(0)}%)`);
      }
      log(
        `scale throughput: ${rep < 0 ? 'warm-up' : `run ${rep + 1}/${runs}`}: ${line.join(', ')}`,
      );
    }
  } finally {
    await Promise.all(instances.map((server) => server.stop()));
    await redis.close();
  }
}
