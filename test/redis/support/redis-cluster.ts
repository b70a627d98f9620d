import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, redisSkipReason, waitForRedis } from '../../support/redis-server.js';
import { stopChild } from '../../support/stop-child.js';
import {
  clusterFormed,
  clusterNodes,
  keySlot,
  redisCommand,
  roleOf,
  settledView,
  until,
} from './cluster-probe.js';

/** One redis-server of a {@link RedisClusterHandle}. */
export interface ClusterNode {
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Its cluster node id (`CLUSTER MYID`). */
  readonly id: string;
  readonly pid: number;
  /** Its role as last read from it: after the cluster formed, {@link waitForFailover}, {@link masterOf}. */
  readonly role: 'master' | 'replica';
  /** False once killed. */
  readonly alive: boolean;
  /** True between {@link RedisClusterHandle.freeze} and {@link RedisClusterHandle.thaw}. */
  readonly frozen: boolean;
}

/** A real Redis Cluster of redis-server children on free loopback ports. */
export interface RedisClusterHandle {
  /** Every node, masters and replicas, in the order they started. */
  readonly nodes: readonly ClusterNode[];
  /** The URL of every node, for `rootNodes`. */
  readonly urls: readonly string[];
  /** The directory holding each node's nodes.conf and log; removed by {@link stop}. */
  readonly dir: string;
  /** The nodes serving slots now (as last read). */
  masters(): ClusterNode[];
  /** The master serving `key`'s hash slot now, as a live node sees it. */
  masterOf(key: string): Promise<ClusterNode>;
  /** SIGKILLs a master and waits for its exit. Nothing restarts it. */
  killMaster(node: ClusterNode): Promise<void>;
  /**
   * Waits (bounded) until a replica of `oldMaster` reports itself master and every other live node
   * reports `cluster_state:ok` and sees it as master; resolves the promoted node.
   */
  waitForFailover(oldMaster: ClusterNode, boundMs?: number): Promise<ClusterNode>;
  /** SIGSTOP: the node keeps its connections open and answers nothing. */
  freeze(node: ClusterNode): void;
  /** SIGCONT after {@link freeze}. */
  thaw(node: ClusterNode): void;
  /** Stops every node and removes their directories. Safe to call twice. */
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  /** Masters (at least 3, as `redis-cli --cluster create` requires). @default 3 */
  masters?: number;
  /** Replicas of each master. @default 0 */
  replicasPerMaster?: 0 | 1;
  /** `cluster-node-timeout`, in milliseconds: how soon a silent master is failed over. @default 1000 */
  nodeTimeoutMs?: number;
}

interface NodeRecord {
  port: number;
  url: string;
  id: string;
  pid: number;
  role: 'master' | 'replica';
  alive: boolean;
  frozen: boolean;
  child: ChildProcess;
}

/**
 * Why the cluster tests are skipped, or `false` when they can run: redis-server (see
 * {@link redisSkipReason}) ≥ 7 (sharded pub/sub, `cluster-port`) and redis-cli. Loud locally; an
 * error under WS_TICKET_REQUIRE_ALL=1 (CI).
 */
export function clusterSkipReason(): string | false {
  const server = redisSkipReason();
  if (server) return server;
  const version = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout;
  const major = Number(/v=(\d+)\./.exec(version)?.[1]);
  let reason: string | undefined;
  if (!(major >= 7))
    reason = `redis-server ${major || '?'} is older than 7: SKIPPING the cluster tests`;
  else if (spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status !== 0)
    reason =
      'redis-cli is not installed: SKIPPING the Redis Cluster tests (apt-get install redis-tools)';
  if (reason === undefined) return false;
  if (process.env.WS_TICKET_REQUIRE_ALL === '1')
    throw new Error(`${reason} — but CI requires them`);
  console.warn(`\n\u001b[41m\u001b[97m ${reason} \u001b[0m\n`);
  return reason;
}

/** Starts the nodes, forms the cluster, and resolves once every node agrees it is whole. */
export async function startRedisCluster(
  options: RedisClusterOptions = {},
): Promise<RedisClusterHandle> {
  const { masters = 3, replicasPerMaster = 0, nodeTimeoutMs = 1000 } = options;
  const root = mkdtempSync(join(tmpdir(), 'ws-ticket-cluster-'));
  const records: NodeRecord[] = [];
  // A test process that dies without its after() hooks leaves no redis-server behind.
  const onExit = () => {
    for (const node of records) node.child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      await Promise.all(
        records.map((node) => stopChild(node.child, { name: 'redis-server', graceMs: 2000 })),
      );
      for (const node of records) node.alive = false;
      await rm(root, { recursive: true, force: true });
      // Only now: a process ending while this runs still cleans up.
      process.off('exit', onExit);
    })();
    return stopped;
  };

  /** The replicas each master had when the cluster formed: the candidates of its failover. */
  const replicasOf = new Map<string, string[]>();
  try {
    // Each node is recorded once started, so that stop() ends it whatever fails next.
    const starts = await Promise.allSettled(
      Array.from({ length: masters * (1 + replicasPerMaster) }, async (_, i) => {
        records.push(await startNode(join(root, `node-${i}`), nodeTimeoutMs));
      }),
    );
    for (const start of starts) if (start.status === 'rejected') throw start.reason;
    await run('redis-cli', [
      '--cluster',
      'create',
      ...records.map((node) => `127.0.0.1:${node.port}`),
      '--cluster-replicas',
      String(replicasPerMaster),
      '--cluster-yes',
    ]);
    await until(
      () => clusterFormed(records, masters, replicasPerMaster),
      'the cluster to form',
      30_000,
    );
    for (const node of records)
      node.id = String(await redisCommand(node.port, ['CLUSTER', 'MYID']));
    await refreshRoles(records);
    for (const view of clusterNodes(await redisCommand(records[0].port, ['CLUSTER', 'NODES']))) {
      if (view.masterId !== '-')
        replicasOf.set(view.masterId, [...(replicasOf.get(view.masterId) ?? []), view.id]);
    }
  } catch (error) {
    await stop();
    throw error;
  }

  const reachable = () => records.filter((node) => node.alive && !node.frozen);
  const record = (node: ClusterNode) => {
    const found = records.find((candidate) => candidate.port === node.port);
    if (!found) throw new Error(`node ${node.port} is not part of this cluster`);
    return found;
  };

  return {
    nodes: records,
    dir: root,
    urls: records.map((node) => node.url),
    masters: () => records.filter((node) => node.alive && node.role === 'master'),
    async masterOf(key) {
      await refreshRoles(reachable());
      const slot = keySlot(key);
      const view = clusterNodes(await redisCommand(reachable()[0].port, ['CLUSTER', 'NODES']));
      const serving = view.find(
        (line) =>
          line.flags.has('master') &&
          !line.flags.has('fail') &&
          line.slots.some(([from, to]) => slot >= from && slot <= to),
      );
      const node = records.find((candidate) => candidate.id === serving?.id);
      if (!node) throw new Error(`no live master serves slot ${slot}`);
      return node;
    },
    async killMaster(node) {
      const target = record(node);
      if (target.role !== 'master') throw new Error(`node ${target.port} is not a master`);
      const exited = new Promise((resolve) => target.child.once('exit', resolve));
      target.child.kill('SIGKILL');
      await exited;
      target.alive = false;
    },
    async waitForFailover(oldMaster, boundMs = 20_000) {
      const old = record(oldMaster);
      const candidates = records.filter((node) => replicasOf.get(old.id)?.includes(node.id));
      if (candidates.length === 0) throw new Error(`master ${old.port} has no replica to promote`);
      let promoted: NodeRecord | undefined;
      await until(
        async () => {
          promoted = undefined;
          for (const node of candidates.filter((c) => c.alive && !c.frozen)) {
            if ((await roleOf(node.port)) === 'master') promoted = node;
          }
          if (!promoted) return `no replica of ${old.port} is master yet`;
          for (const node of reachable().filter((n) => n !== old)) {
            const state = await settledView(node.port);
            if (state !== true) return state;
            const view = clusterNodes(await redisCommand(node.port, ['CLUSTER', 'NODES']));
            const seen = view.find((line) => line.id === promoted?.id);
            if (!seen?.flags.has('master')) return `${node.port} does not see the new master yet`;
          }
          return true;
        },
        `a replica of ${old.port} to take over`,
        boundMs,
      );
      replicasOf.delete(old.id);
      await refreshRoles(reachable());
      return promoted as NodeRecord;
    },
    freeze(node) {
      const target = record(node);
      process.kill(target.pid, 'SIGSTOP');
      target.frozen = true;
    },
    thaw(node) {
      const target = record(node);
      process.kill(target.pid, 'SIGCONT');
      target.frozen = false;
    },
    stop,
  };
}

/** One cluster-enabled redis-server in `dir`; another free port pair when its ports were taken. */
async function startNode(dir: string, nodeTimeoutMs: number): Promise<NodeRecord> {
  for (let attempt = 1; ; attempt++) {
    // A fresh directory per attempt: a nodes.conf written before the bind failed stays behind.
    const home = `${dir}-${attempt}`;
    mkdirSync(home, { recursive: true });
    const port = await freePort();
    let bus = await freePort();
    while (bus === port) bus = await freePort();
    // cluster-port: port + 10000 may be taken or past 65535; replica-validity-factor 0: a replica
    // always may take over (the test decides when its master dies, not how fresh its data is);
    // diskless-sync-delay 0: replicas sync at once instead of 5 s later.
    const config: Record<string, string> = {
      port: String(port),
      bind: '127.0.0.1',
      'cluster-enabled': 'yes',
      'cluster-port': String(bus),
      'cluster-node-timeout': String(nodeTimeoutMs),
      'cluster-replica-validity-factor': '0',
      'cluster-config-file': 'nodes.conf',
      dir: home,
      logfile: join(home, 'redis.log'),
      save: '',
      appendonly: 'no',
      'repl-diskless-sync-delay': '0',
    };
    const child = spawn(
      'redis-server',
      Object.entries(config).flatMap(([name, value]) => [`--${name}`, value]),
      { stdio: 'ignore' },
    );
    try {
      await waitForRedis(port, child);
      const url = `redis://127.0.0.1:${port}`;
      const pid = child.pid as number;
      return { port, url, id: '', pid, role: 'master', alive: true, frozen: false, child };
    } catch (error) {
      await stopChild(child, { name: 'redis-server', graceMs: 2000 });
      if (attempt === 5) throw error;
    }
  }
}

async function refreshRoles(records: NodeRecord[]): Promise<void> {
  for (const node of records) node.role = await roleOf(node.port);
}

/** Runs a command to its end (bounded), with its output in the error when it fails. */
function run(file: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      if (error)
        reject(
          new Error(
            `${file} ${args.slice(0, 2).join(' ')} failed: ${error.message}\n${stdout}${stderr}`,
          ),
        );
      else resolve(stdout);
    });
  });
}
