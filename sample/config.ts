import { Logger } from '@nestjs/common';

/** Everything the sample reads from the environment (the library itself never reads env). */
export interface SampleConfig {
  port: number;
  host: string;
  jwtSecret: string;
  /** Access token lifetime, seconds. */
  jwtTtl: number;
  /** Ticket lifetime, seconds. */
  wsTicketTtl: number;
  /**
   * `WS_TICKET_REFRESH_WINDOW`: seconds before a socket's session ends when the server asks the
   * page to refresh it (`ws-ticket:expiring`); 0 sends no such event. Unset: the module's default.
   */
  wsTicketRefreshWindow?: number;
  /**
   * `WS_TICKET_MAX_CONNECTIONS_PER_USER`: open connections one user may hold (0: no cap). Unset:
   * the module's default (50).
   */
  wsTicketMaxConnectionsPerUser?: number;
  /** `WS_TICKET_ON_CONNECTION_LIMIT`: `refuse` or `close-oldest`. Unset: the module's (`refuse`). */
  wsTicketOnConnectionLimit?: 'refuse' | 'close-oldest';
  /**
   * `WS_TICKET_CONNECTION_LEASE`: seconds a connection's slot outlives its last renewal (what a
   * crashed process holds). Unset: the module's default (60).
   */
  wsTicketConnectionLease?: number;
  /** Origins allowed to open sockets; undefined allows any. */
  allowedOrigins?: string[];
  /**
   * `REDIS_URL`: when set, tickets, user state and Socket.IO broadcasts live in this Redis, so that
   * several sample processes behave as one app. Unset, everything stays in process memory.
   */
  redisUrl?: string;
  /**
   * `REDIS_CLUSTER_NODES` (`redis://h:p,redis://h:p,…`): the same on a Redis Cluster (Redis 7:
   * sharded pub/sub for Socket.IO and the module's channel). Excludes `REDIS_URL`.
   */
  redisClusterNodes?: string[];
  /**
   * `JWT_JWKS_URI`: an identity provider's JSON Web Key Set (an http: or https: URL). When set,
   * the ticket endpoint also accepts RS256 and ES256 tokens signed with its keys, whose `sub` is a
   * sample user's id. Unset: only the sample's own login tokens.
   */
  jwtJwksUri?: string;
  /** `JWT_ISSUER`: the `iss` the identity provider's tokens must carry. Needs `JWT_JWKS_URI`. */
  jwtIssuer?: string;
  /** `JWT_AUDIENCE`: the `aud` the identity provider's tokens must name. Needs `JWT_JWKS_URI`. */
  jwtAudience?: string;
}

/** `iss` of the sample's own access tokens (login and refresh), which no identity provider uses. */
export const SAMPLE_ISSUER = 'nestjs-ws-ticket-sample';

const DEV_SECRET = 'dev-only-secret-change-me-0123456789abcdef';

function seconds(name: string, fallback: number, env: NodeJS.ProcessEnv): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer`);
  return value;
}

/** Like {@link seconds}, where 0 is a meaning of its own; unset or empty: undefined. */
function optionalSeconds(name: string, env: NodeJS.ProcessEnv): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  // Number('') and Number(' ') are 0: only digits count.
  if (!/^\d+$/.test(raw.trim())) {
    throw new Error(
      `${name} must be a non-negative integer (seconds); received ${JSON.stringify(raw)}`,
    );
  }
  return Number(raw);
}

/** Like {@link optionalSeconds}, where 0 makes no sense. */
function optionalPositive(name: string, env: NodeJS.ProcessEnv): number | undefined {
  const value = optionalSeconds(name, env);
  if (value === 0) throw new Error(`${name} must be a positive integer (seconds); received "0"`);
  return value;
}

function connectionLimitAction(env: NodeJS.ProcessEnv): 'refuse' | 'close-oldest' | undefined {
  const raw = env.WS_TICKET_ON_CONNECTION_LIMIT?.trim();
  if (!raw) return undefined;
  if (raw !== 'refuse' && raw !== 'close-oldest') {
    throw new Error(
      `WS_TICKET_ON_CONNECTION_LIMIT must be refuse or close-oldest; received ${JSON.stringify(raw)}`,
    );
  }
  return raw;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): SampleConfig {
  const jwtSecret = env.JWT_SECRET || DEV_SECRET;
  if (!env.JWT_SECRET) {
    new Logger('Sample').warn(
      'JWT_SECRET is not set: using a development secret. Never do this in production.',
    );
  }
  return {
    port: env.PORT === undefined || env.PORT === '' ? 3000 : Number(env.PORT),
    host: env.HOST || '127.0.0.1',
    jwtSecret,
    jwtTtl: seconds('JWT_TTL', 900, env),
    wsTicketTtl: seconds('WS_TICKET_TTL', 30, env),
    wsTicketRefreshWindow: optionalSeconds('WS_TICKET_REFRESH_WINDOW', env),
    wsTicketMaxConnectionsPerUser: optionalSeconds('WS_TICKET_MAX_CONNECTIONS_PER_USER', env),
    wsTicketOnConnectionLimit: connectionLimitAction(env),
    wsTicketConnectionLease: optionalPositive('WS_TICKET_CONNECTION_LEASE', env),
    allowedOrigins: env.ALLOWED_ORIGINS
      ? env.ALLOWED_ORIGINS.split(',')
          .map((origin) => origin.trim())
          .filter(Boolean)
      : undefined,
    ...redis(env),
    ...identityProvider(env),
  };
}

/** `JWT_JWKS_URI`, `JWT_ISSUER` and `JWT_AUDIENCE`, trimmed; empty is unset. */
function identityProvider(
  env: NodeJS.ProcessEnv,
): Pick<SampleConfig, 'jwtJwksUri' | 'jwtIssuer' | 'jwtAudience'> {
  const jwtJwksUri = env.JWT_JWKS_URI?.trim() || undefined;
  const jwtIssuer = env.JWT_ISSUER?.trim() || undefined;
  const jwtAudience = env.JWT_AUDIENCE?.trim() || undefined;
  if (jwtJwksUri === undefined) {
    const set = [jwtIssuer && 'JWT_ISSUER', jwtAudience && 'JWT_AUDIENCE'].filter(Boolean);
    if (set.length > 0) {
      throw new Error(
        `${set.join(' and ')} ${set.length > 1 ? 'apply' : 'applies'} to identity provider tokens: set JWT_JWKS_URI too (the provider's JWKS URL), or unset ${set.join(' and ')}`,
      );
    }
    return {};
  }
  // The URL may hold credentials or a key in its query: it stays out of the messages.
  const url = safeUrl(jwtJwksUri);
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw new Error(
      "JWT_JWKS_URI must be an https:// (or http://) URL, such as the jwks_uri of the provider's /.well-known/openid-configuration",
    );
  }
  if (url.username !== '' || url.password !== '') {
    // fetch() refuses URLs with credentials: every key fetch would fail.
    throw new Error('JWT_JWKS_URI must not hold credentials (user:password@)');
  }
  if (jwtIssuer === SAMPLE_ISSUER) {
    throw new Error(
      `JWT_ISSUER must be the identity provider's issuer, not "${SAMPLE_ISSUER}" (the issuer of the sample's own tokens)`,
    );
  }
  return { jwtJwksUri, jwtIssuer, jwtAudience };
}

/** A JWKS URL fit for a log line: origin and path, never credentials nor the query. */
export function redactJwksUri(uri: string): string {
  const parsed = safeUrl(uri);
  return parsed ? `${parsed.origin}${parsed.pathname}` : '(invalid URL)';
}

/** `REDIS_URL` or `REDIS_CLUSTER_NODES`, trimmed; empty is unset. */
function redis(env: NodeJS.ProcessEnv): Pick<SampleConfig, 'redisUrl' | 'redisClusterNodes'> {
  const url = env.REDIS_URL?.trim() || undefined;
  const nodes = env.REDIS_CLUSTER_NODES?.split(',')
    .map((node) => node.trim())
    .filter(Boolean);
  if (url !== undefined && nodes?.length) {
    throw new Error('Set REDIS_URL (one Redis) or REDIS_CLUSTER_NODES (a Redis Cluster), not both');
  }
  // The URLs may hold a password: they stay out of the messages.
  if (url !== undefined) {
    if (!isRedisUrl(url)) throw new Error('REDIS_URL must be a redis:// or rediss:// URL');
    return { redisUrl: url };
  }
  if (!nodes?.length) return {};
  nodes.forEach((node, index) => {
    if (!isRedisUrl(node)) {
      throw new Error(`REDIS_CLUSTER_NODES: node ${index + 1} must be a redis:// or rediss:// URL`);
    }
  });
  return { redisClusterNodes: nodes };
}

function isRedisUrl(url: string): boolean {
  return ['redis:', 'rediss:'].includes(safeUrl(url)?.protocol ?? '');
}

/**
 * A Redis URL fit for a log line: scheme, host, port and database, never the user or password.
 * `redis://user:secret@cache:6380/2` → `redis://cache:6380/2`.
 */
export function redactRedisUrl(url: string): string {
  const parsed = safeUrl(url);
  if (!parsed) return '(invalid URL)';
  return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
}

function safeUrl(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}
