import type { WsTicketJwksOptions, WsTicketJwtOptions } from '../bearer/bearer.options.js';
import type { WsTicketRoomJoinLimit } from '../rooms/rooms.types.js';
import type {
  WsTicketBindOptions,
  WsTicketIssueLimit,
  WsTicketModuleExtras,
  WsTicketModuleOptions,
} from '../ws-ticket.options.js';
import { received } from './options.js';

/** Every key of T, listed once: the compiler fails here when an option is added or renamed. */
function keysOf<T>(keys: Record<keyof T, true>): readonly string[] {
  return Object.keys(keys);
}

/** Keys of the module options (what `forRoot()` takes beside the extras, and what factories return). */
export const MODULE_OPTION_KEYS = keysOf<WsTicketModuleOptions>({
  jwt: true,
  resolveUser: true,
  getUserId: true,
  callbackTimeout: true,
  ttl: true,
  param: true,
  store: true,
  keyPrefix: true,
  storeTimeout: true,
  closeOnSessionEnd: true,
  refreshWindow: true,
  allowedOrigins: true,
  bind: true,
  issueLimit: true,
  maxConnectionsPerUser: true,
  onConnectionLimit: true,
  connectionLease: true,
  guardOnly: true,
  openTelemetry: true,
  rooms: true,
  maxRoomsPerSocket: true,
  roomJoinLimit: true,
});

/** Keys read when the module is assembled, before any factory runs. */
export const EXTRA_KEYS = keysOf<WsTicketModuleExtras>({
  isGlobal: true,
  path: true,
  controller: true,
  controllerDecorators: true,
});

const NESTED_KEYS = {
  jwt: keysOf<WsTicketJwtOptions>({
    secret: true,
    publicKey: true,
    service: true,
    jwks: true,
    algorithms: true,
    issuer: true,
    audience: true,
    clockTolerance: true,
    allowMissingExp: true,
  }),
  bind: keysOf<WsTicketBindOptions>({ ip: true, userAgent: true, trustedProxies: true }),
  issueLimit: keysOf<WsTicketIssueLimit>({ limit: true, window: true }),
  roomJoinLimit: keysOf<WsTicketRoomJoinLimit>({ limit: true, window: true }),
} as const;

const JWKS_KEYS = keysOf<WsTicketJwksOptions>({
  uri: true,
  timeout: true,
  cooldown: true,
  cacheMaxAge: true,
  headers: true,
});

/** Options that were removed, with what replaces them (a plain "unknown option" would not say). */
export const REMOVED_OPTIONS: Readonly<Record<string, string>> = {
  'bind.trustProxy':
    'WsTicketModule: `bind.trustProxy` was removed: it trusted the left-most X-Forwarded-For entry, which the client writes. Name the proxies in front of the app instead: `bind.trustedProxies: 1` (one proxy, e.g. nginx or an ALB) or a list of their addresses / CIDR ranges.',
};

/** Where the options came from, as the error names it. */
export type OptionsSource = 'forRoot' | 'factory';

/**
 * Checks the keys of the options at startup: a key the module does not know (a typo such as
 * `tll`) is an error listing the valid ones; a static extra returned by a `forRootAsync` factory
 * (where it would be silently ignored) is an error saying where it goes. The nested `jwt`, `bind`
 * and `issueLimit` objects are checked the same way.
 */
export function checkOptionKeys(options: unknown, source: OptionsSource): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new Error(
      source === 'forRoot'
        ? `WsTicketModule: forRoot() takes an options object; received ${received(options)}.`
        : `WsTicketModule: the forRootAsync() factory (useFactory, or createWsTicketOptions() of useClass / useExisting) must return an options object; received ${received(options)}.`,
    );
  }
  const keys = Object.keys(options);
  if (source === 'factory') {
    const extras = keys.filter((key) => EXTRA_KEYS.includes(key));
    if (extras.length > 0) {
      const example = extras.map((key) => `${key}: …`).join(', ');
      throw new Error(
        `WsTicketModule: ${list(extras)} ${extras.length > 1 ? 'were' : 'was'} returned by the forRootAsync() factory, where ${extras.length > 1 ? 'they are' : 'it is'} read too late and would be ignored: pass ${extras.length > 1 ? 'them' : 'it'} to forRootAsync({ ${example}, useFactory }) beside useFactory (or useClass / useExisting), not from the factory. Static options: ${list(EXTRA_KEYS)}.`,
      );
    }
  }
  const valid = source === 'forRoot' ? [...MODULE_OPTION_KEYS, ...EXTRA_KEYS] : MODULE_OPTION_KEYS;
  unknownKeys(keys, valid, '');
  for (const [name, nestedValid] of Object.entries(NESTED_KEYS)) {
    const nested = (options as Record<string, unknown>)[name];
    // `jwt` may list several sources, each checked with its index.
    const entries = name === 'jwt' && Array.isArray(nested) ? nested : [nested];
    entries.forEach((entry: unknown, index) => {
      const prefix = entries === nested ? `${name}[${index}].` : `${name}.`;
      // Other shapes (`issueLimit: false`, a non-object) are the value checks' business.
      if (!isPlainObject(entry)) return;
      unknownKeys(Object.keys(entry), nestedValid, prefix);
      if (name === 'jwt' && isPlainObject(entry.jwks)) {
        unknownKeys(Object.keys(entry.jwks), JWKS_KEYS, `${prefix}jwks.`);
      }
    });
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function unknownKeys(keys: string[], valid: readonly string[], prefix: string): void {
  const unknown = keys.filter((key) => !valid.includes(key));
  if (unknown.length === 0) return;
  const removed = unknown.find((key) => Object.hasOwn(REMOVED_OPTIONS, `${prefix}${key}`));
  if (removed !== undefined) throw new Error(REMOVED_OPTIONS[`${prefix}${removed}`]);
  const named = unknown.map((key) => {
    const guess = closest(key, valid);
    return `\`${prefix}${key}\`${guess === undefined ? '' : ` (did you mean \`${prefix}${guess}\`?)`}`;
  });
  throw new Error(
    `WsTicketModule: unknown option${unknown.length > 1 ? 's' : ''} ${named.join(', ')}. ` +
      `Valid ${prefix ? `\`${prefix.slice(0, -1)}\` ` : ''}options: ${list(valid.map((key) => `${prefix}${key}`))}.`,
  );
}

function list(keys: readonly string[]): string {
  return keys.map((key) => (key.startsWith('`') ? key : `\`${key}\``)).join(', ');
}

/** The valid key nearest to a typo (case-insensitive edit distance up to 2), if any. */
export function closest(key: string, valid: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.min(2, Math.max(1, Math.floor(key.length / 3)));
  for (const candidate of valid) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance <= bestDistance && (best === undefined || distance < bestDistance)) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Damerau–Levenshtein (optimal string alignment): a swapped pair such as `tll`/`ttl` costs 1. */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}
