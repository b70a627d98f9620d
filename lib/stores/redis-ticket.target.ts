// Where a RedisTicketStore connects when it owns its connection: one Redis (`url`) or a Redis
// Cluster (`cluster`), checked at construction. No message here ever quotes a URL: it may hold a
// password.
import type { RedisTicketStoreOptions } from './redis-ticket.types.js';

/** One Redis server. */
export interface RedisServerTarget {
  kind: 'server';
  url: string;
}

/** A Redis Cluster, discovered from its root nodes. */
export interface RedisClusterTarget {
  kind: 'cluster';
  rootNodes: { url: string }[];
  /** What every node the cluster reports is connected with: the root URLs' credentials and TLS. */
  defaults: { username?: string; password?: string; socket?: { tls: true } };
}

/** A connection the store opens itself, or none (`client`). */
export type RedisTarget = RedisServerTarget | RedisClusterTarget;

/**
 * Checks the options and returns the connection the store opens itself (`undefined` with
 * `client`).
 * @throws Error naming the option and the fix, never a URL
 */
export function redisTarget(options: RedisTicketStoreOptions): RedisTarget | undefined {
  const given = (['client', 'url', 'cluster'] as const).filter(
    (name) => (options as unknown as Record<string, unknown> | undefined)?.[name] !== undefined,
  );
  if (given.length !== 1) {
    throw new Error('RedisTicketStore: pass exactly one of `client`, `url` or `cluster`.');
  }
  if (options.url !== undefined) {
    if (!isRedisUrl(options.url)) {
      throw new Error('RedisTicketStore: `url` must be a redis:// or rediss:// URL.');
    }
    return { kind: 'server', url: options.url };
  }
  if (options.cluster !== undefined) return clusterTarget(options.cluster);
  return undefined;
}

function clusterTarget(cluster: unknown): RedisClusterTarget {
  const list: unknown = Array.isArray(cluster)
    ? cluster
    : (cluster as { rootNodes?: unknown } | null)?.rootNodes;
  const urls = Array.isArray(list)
    ? list.map((node: unknown) => (typeof node === 'string' ? node : urlOf(node)))
    : [];
  if (urls.length === 0) {
    throw new Error(
      "RedisTicketStore: `cluster` must list at least one node: ['redis://host:port', …] or " +
        "{ rootNodes: [{ url: 'redis://host:port' }, …] }.",
    );
  }
  const parsed = urls.map((url, index) => {
    const node = isRedisUrl(url) ? new URL(url as string) : undefined;
    if (!node) {
      throw new Error(
        `RedisTicketStore: \`cluster\` node ${index} must be a redis:// or rediss:// URL.`,
      );
    }
    if (node.pathname !== '' && node.pathname !== '/' && node.pathname !== '/0') {
      throw new Error(
        `RedisTicketStore: \`cluster\` node ${index} names a database; a Redis Cluster has only database 0.`,
      );
    }
    return node;
  });
  const [first] = parsed;
  const differs = parsed.findIndex(
    (node) =>
      node.protocol !== first.protocol ||
      node.username !== first.username ||
      node.password !== first.password,
  );
  if (differs !== -1) {
    throw new Error(
      `RedisTicketStore: \`cluster\` node ${differs} has another scheme, user or password than node 0; ` +
        'they apply to every node of the cluster, so all URLs must agree.',
    );
  }
  const defaults: RedisClusterTarget['defaults'] = {};
  if (first.username !== '') defaults.username = decodeURIComponent(first.username);
  if (first.password !== '') defaults.password = decodeURIComponent(first.password);
  if (first.protocol === 'rediss:') defaults.socket = { tls: true };
  return { kind: 'cluster', rootNodes: urls.map((url) => ({ url: url as string })), defaults };
}

function urlOf(node: unknown): unknown {
  return typeof node === 'object' && node !== null ? (node as { url?: unknown }).url : undefined;
}

function isRedisUrl(url: unknown): boolean {
  if (typeof url !== 'string') return false;
  try {
    return ['redis:', 'rediss:'].includes(new URL(url).protocol);
  } catch {
    return false;
  }
}
