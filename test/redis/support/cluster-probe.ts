import { connect } from 'node:net';

/** A reply to {@link redisCommand}: a simple or bulk string, an integer, or a nil bulk string. */
export type ProbeReply = string | number | null;

/**
 * Sends one command to the Redis on 127.0.0.1:`port` over a connection of its own and resolves its
 * reply; rejects on an error reply, a refused connection, or after `timeoutMs` (a frozen or dead
 * node must not hold a wait). Only the reply kinds the cluster harness reads (no arrays): no
 * client library, so no reconnection or queueing behind the harness's back.
 */
export function redisCommand(port: number, args: string[], timeoutMs = 1000): Promise<ProbeReply> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buffer = Buffer.alloc(0);
    const finish = (error: Error | undefined, reply?: ProbeReply) => {
      socket.destroy();
      if (error) reject(error);
      else resolve(reply ?? null);
    };
    socket.setTimeout(timeoutMs, () =>
      finish(new Error(`no answer from 127.0.0.1:${port} to ${args[0]} within ${timeoutMs} ms`)),
    );
    socket.on('error', (error) => finish(error));
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const parsed = parseReply(buffer);
      if (parsed === undefined) return;
      if (parsed instanceof Error) finish(parsed);
      else finish(undefined, parsed);
    });
    const encoded = args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('');
    socket.write(`*${args.length}\r\n${encoded}`);
  });
}

/** One complete reply, `undefined` while incomplete, an `Error` for an error reply. */
function parseReply(buffer: Buffer): ProbeReply | Error | undefined {
  const end = buffer.indexOf('\r\n');
  if (end === -1) return undefined;
  const line = buffer.toString('utf8', 1, end);
  switch (String.fromCharCode(buffer[0])) {
    case '+':
      return line;
    case '-':
      return new Error(line);
    case ':':
      return Number(line);
    case '$': {
      const length = Number(line);
      if (length < 0) return null;
      if (buffer.length < end + 2 + length + 2) return undefined;
      return buffer.toString('utf8', end + 2, end + 2 + length);
    }
    default:
      return new Error(`unexpected reply ${JSON.stringify(buffer.toString('latin1', 0, 20))}`);
  }
}

/** `field:value` lines of an `INFO` or `CLUSTER INFO` reply. */
export function infoFields(reply: ProbeReply): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of String(reply).split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

/** One line of `CLUSTER NODES`, as one node sees another. */
export interface ClusterNodeView {
  readonly id: string;
  readonly port: number;
  readonly flags: ReadonlySet<string>;
  /** The master's id for a replica, `-` for a master. */
  readonly masterId: string;
  /** Inclusive slot ranges a master serves (migration markers left out). */
  readonly slots: ReadonlyArray<readonly [number, number]>;
}

/** Parses a `CLUSTER NODES` reply. */
export function clusterNodes(reply: ProbeReply): ClusterNodeView[] {
  return String(reply)
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id, address, flags, masterId, , , , , ...slots] = line.trim().split(' ');
      const port = Number(/:(\d+)@/.exec(address)?.[1]);
      const ranges = slots
        .filter((slot) => !slot.startsWith('['))
        .map((slot) => {
          const [from, to = from] = slot.split('-').map(Number);
          return [from, to] as const;
        });
      return { id, port, flags: new Set(flags.split(',')), masterId, slots: ranges };
    });
}

export { keySlot } from '../../../lib/stores/redis-key-slot.js';

const SLOTS = 16384;

/** True once every node of `nodes` reports the whole cluster, else what is still missing. */
export async function clusterFormed(
  nodes: ReadonlyArray<{ readonly port: number }>,
  masters: number,
  replicasPerMaster: number,
): Promise<true | string> {
  for (const { port } of nodes) {
    const state = await settledView(port);
    if (state !== true) return state;
    const view = clusterNodes(await redisCommand(port, ['CLUSTER', 'NODES']));
    if (view.length !== nodes.length) return `${port} knows ${view.length} nodes`;
    if (view.some((line) => [...line.flags].some((flag) => /fail|handshake|noaddr/.test(flag))))
      return `${port} sees a node failing or joining`;
    const serving = view.filter((line) => line.flags.has('master') && line.slots.length > 0);
    if (serving.length !== masters) return `${port} sees ${serving.length} masters`;
    for (const master of serving) {
      const replicas = view.filter((line) => line.masterId === master.id).length;
      if (replicas !== replicasPerMaster)
        return `${port} sees ${master.port} with ${replicas} replicas`;
    }
    const replication = infoFields(await redisCommand(port, ['INFO', 'replication']));
    if (replication.get('role') === 'slave' && replication.get('master_link_status') !== 'up')
      return `replica ${port} has not synced`;
  }
  return true;
}

/** `cluster_state:ok` with every slot served, as the node on `port` sees it; else what it sees. */
export async function settledView(port: number): Promise<true | string> {
  const info = infoFields(await redisCommand(port, ['CLUSTER', 'INFO']));
  if (info.get('cluster_state') !== 'ok')
    return `${port}: cluster_state ${info.get('cluster_state')}`;
  if (info.get('cluster_slots_ok') !== String(SLOTS))
    return `${port}: ${info.get('cluster_slots_ok')} slots ok`;
  return true;
}

/** The role the node on `port` reports in `INFO replication`. */
export async function roleOf(port: number): Promise<'master' | 'replica'> {
  const role = infoFields(await redisCommand(port, ['INFO', 'replication'])).get('role');
  return role === 'slave' ? 'replica' : 'master';
}

/**
 * Polls `probe` every 100 ms until it answers true; rejects with its last answer (what is still
 * missing, or the error it threw) after `boundMs`.
 */
export async function until(
  probe: () => Promise<true | string>,
  what: string,
  boundMs: number,
): Promise<void> {
  const deadline = Date.now() + boundMs;
  let last = '';
  for (;;) {
    try {
      const answer = await probe();
      if (answer === true) return;
      last = answer;
    } catch (error) {
      last = (error as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}: ${last}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
