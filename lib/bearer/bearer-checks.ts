import { flag, numberHint, received } from '../internal/options.js';
import {
  WS_TICKET_JWT_ALGORITHMS,
  type WsTicketJwksOptions,
  type WsTicketJwtOptions,
} from './bearer.options.js';
import type { JwksKeySetSettings } from './jwks-key-set.js';

/** Largest `clockTolerance`, in seconds: clocks further apart are broken, not skewed. */
export const MAX_CLOCK_TOLERANCE = 300;

/** Most key sources `jwt` may list. */
export const MAX_JWT_SOURCES = 16;

/**
 * Checks the `jwt` option at startup and returns its sources as a list, each with the name the
 * errors use for it (`jwt`, or `jwt[1]` in a list). Issuers must not be claimed by two sources,
 * and at most one source may leave `issuer` out.
 */
export function checkJwtSources(
  jwt: unknown,
): { name: string; options: WsTicketJwtOptions }[] | undefined {
  if (jwt === undefined) return undefined;
  const list = Array.isArray(jwt);
  const entries: unknown[] = list ? jwt : [jwt];
  if (list && (entries.length === 0 || entries.length > MAX_JWT_SOURCES)) {
    throw new Error(
      `WsTicketModule: \`jwt\` lists 1 to ${MAX_JWT_SOURCES} key sources; received ${entries.length}.`,
    );
  }
  const sources = entries.map((options, index) => {
    const name = list ? `jwt[${index}]` : 'jwt';
    if (typeof options !== 'object' || options === null || Array.isArray(options)) {
      throw new Error(
        `WsTicketModule: \`${name}\` must be an object, e.g. { secret: config.getOrThrow('JWT_SECRET') } or { jwks: { uri }, issuer, audience }; received ${received(options, true)}.`,
      );
    }
    checkJwtSource(options as WsTicketJwtOptions, name);
    return { name, options: options as WsTicketJwtOptions };
  });
  if (list) checkIssuers(sources);
  return sources;
}

function checkIssuers(sources: { name: string; options: WsTicketJwtOptions }[]): void {
  const owners = new Map<string, string>();
  const open: string[] = [];
  for (const { name, options } of sources) {
    const issuers = issuersOf(options);
    if (issuers === undefined) open.push(name);
    for (const issuer of issuers ?? []) {
      const owner = owners.get(issuer);
      if (owner !== undefined) {
        throw new Error(
          `WsTicketModule: \`${owner}.issuer\` and \`${name}.issuer\` both name ${received(issuer)}: each issuer chooses one source.`,
        );
      }
      owners.set(issuer, name);
    }
  }
  if (open.length > 1) {
    throw new Error(
      `WsTicketModule: ${open.map((name) => `\`${name}\``).join(' and ')} set no \`issuer\`: in a list of key sources at most one may leave it out (it takes the tokens whose \`iss\` no other source names). Set each source's \`issuer\`.`,
    );
  }
}

/** A source's issuers, or `undefined` when it names none. */
export function issuersOf(options: WsTicketJwtOptions): readonly string[] | undefined {
  const { issuer } = options;
  if (issuer === undefined) return undefined;
  return typeof issuer === 'string' ? [issuer] : issuer;
}

/** Type checks of one source, saying what was received (only the type, for keys and secrets). */
function checkJwtSource(options: WsTicketJwtOptions, name: string): void {
  for (const key of ['secret', 'publicKey'] as const) {
    const value: unknown = options[key];
    if (value !== undefined && typeof value !== 'string' && !Buffer.isBuffer(value)) {
      throw new Error(
        `WsTicketModule: \`${name}.${key}\` must be a string or a Buffer; received ${received(value, true)}.`,
      );
    }
  }
  const service: unknown = options.service;
  if (
    service !== undefined &&
    typeof (service as { verifyAsync?: unknown } | null)?.verifyAsync !== 'function'
  ) {
    throw new Error(
      `WsTicketModule: \`${name}.service\` must be a JwtService from @nestjs/jwt (inject it in forRootAsync({ inject: [JwtService], useFactory })); received ${received(service, true)}.`,
    );
  }
  const kinds = (['secret', 'publicKey', 'service', 'jwks'] as const).filter((key) => {
    const value: unknown = options[key];
    return !(
      value === undefined ||
      ((typeof value === 'string' || Buffer.isBuffer(value)) && value.length === 0)
    );
  });
  if (kinds.length === 0) {
    const given = (['secret', 'publicKey', 'service', 'jwks'] as const)
      .filter((key) => key in options)
      .map((key) => `\`${name}.${key}\` ${received(options[key], true)}`);
    throw new Error(
      `WsTicketModule: set \`${name}.secret\`, \`${name}.publicKey\`, \`${name}.service\` or \`${name}.jwks\`; received ${given.length > 0 ? given.join(', ') : 'none of them'} (a missing environment variable? ConfigService.getOrThrow() names it).`,
    );
  }
  const exclusive = kinds.filter((key) => key === 'service' || key === 'jwks');
  if (exclusive.length > 0 && kinds.length > 1) {
    throw new Error(
      `WsTicketModule: \`${name}\` sets ${kinds.map((key) => `\`${key}\``).join(' and ')}: a source has one kind of key (\`secret\` and \`publicKey\` may go together). List several sources to accept several (jwt: [{ … }, { … }]).`,
    );
  }
  checkAlgorithms(options, name);
  for (const key of ['issuer', 'audience'] as const) {
    const value: unknown = options[key];
    if (
      value !== undefined &&
      !(typeof value === 'string' && value !== '') &&
      !(
        Array.isArray(value) &&
        value.length > 0 &&
        value.every((entry) => typeof entry === 'string' && entry !== '')
      )
    ) {
      throw new Error(
        `WsTicketModule: \`${name}.${key}\` must be a non-empty string or a list of them; received ${received(value)}.`,
      );
    }
  }
  const tolerance: unknown = options.clockTolerance;
  if (
    tolerance !== undefined &&
    (typeof tolerance !== 'number' ||
      !Number.isFinite(tolerance) ||
      tolerance < 0 ||
      tolerance > MAX_CLOCK_TOLERANCE)
  ) {
    throw new Error(
      `WsTicketModule: \`${name}.clockTolerance\` must be a number of seconds from 0 to ${MAX_CLOCK_TOLERANCE} (e.g. 5; milliseconds given as seconds would accept long-expired tokens); received ${received(tolerance)}${numberHint(tolerance)}.`,
    );
  }
  flag(options.allowMissingExp, `${name}.allowMissingExp`);
}

function checkAlgorithms(options: WsTicketJwtOptions, name: string): void {
  const algorithms: unknown = options.algorithms;
  if (algorithms === undefined) return;
  if (!Array.isArray(algorithms) || algorithms.some((a) => typeof a !== 'string')) {
    const hint =
      typeof algorithms === 'string' ? `: pass a list, e.g. ['${algorithms.split(',')[0]}']` : '';
    throw new Error(
      `WsTicketModule: \`${name}.algorithms\` must be a list of algorithm names, e.g. ['HS256']; received ${received(algorithms)}${hint}.`,
    );
  }
  if (algorithms.length === 0 || algorithms.some((a) => a.toLowerCase() === 'none')) {
    throw new Error(
      `WsTicketModule: \`${name}.algorithms\` must list at least one algorithm, never "none".`,
    );
  }
  const supported: readonly string[] = WS_TICKET_JWT_ALGORITHMS;
  const unknown = (algorithms as string[]).find((a) => !supported.includes(a));
  if (unknown !== undefined) {
    throw new Error(
      `WsTicketModule: \`${name}.algorithms\` names an algorithm this module does not know: ${received(unknown)} (names are case-sensitive, without spaces: trim environment values). Supported: ${supported.join(', ')}.`,
    );
  }
  const hmac = (algorithms as string[]).filter((a) => a.startsWith('HS'));
  if (options.jwks !== undefined && hmac.length > 0) {
    throw new Error(
      `WsTicketModule: \`${name}.algorithms\` lists ${hmac.join(', ')} for a \`jwks\` source, which takes asymmetric algorithms only (RS*, PS*, ES*): an HMAC token "signed" with a published key would pass. Put HMAC tokens in a source of their own with \`secret\`.`,
    );
  }
  if (options.service !== undefined) return;
  const asymmetric = (algorithms as string[]).filter((a) => !a.startsWith('HS'));
  const unused = [
    options.secret && hmac.length === 0 && 'secret',
    options.publicKey && asymmetric.length === 0 && 'publicKey',
  ].filter(Boolean);
  if (unused.length > 0) {
    throw new Error(
      `WsTicketModule: \`${name}.algorithms\` lists no algorithm for \`${name}.${unused[0]}\`, which would never be used: add its algorithms, or remove it.`,
    );
  }
  if (!options.secret && hmac.length > 0) {
    throw new Error(
      `WsTicketModule: \`${name}.algorithms\` lists ${hmac.join(', ')} but the source has no \`secret\`: HMAC tokens need one.`,
    );
  }
  if (!options.publicKey && options.jwks === undefined && asymmetric.length > 0) {
    throw new Error(
      `WsTicketModule: \`${name}.algorithms\` lists ${asymmetric.join(', ')} but the source has no \`publicKey\` nor \`jwks\`: those tokens need one.`,
    );
  }
}

/** Checks `jwks` and returns its settings in milliseconds. */
export function checkJwks(jwks: WsTicketJwksOptions, name: string): JwksKeySetSettings {
  if (typeof jwks !== 'object' || jwks === null || Array.isArray(jwks)) {
    throw new Error(
      `WsTicketModule: \`${name}.jwks\` must be an object, e.g. { uri: 'https://YOUR_DOMAIN/.well-known/jwks.json' }; received ${received(jwks, true)}.`,
    );
  }
  let uri: URL | undefined;
  try {
    uri = new URL(jwks.uri);
  } catch {
    // Below.
  }
  if (uri === undefined || (uri.protocol !== 'https:' && uri.protocol !== 'http:')) {
    throw new Error(
      `WsTicketModule: \`${name}.jwks.uri\` must be an https: URL, such as the \`jwks_uri\` of your provider's /.well-known/openid-configuration; received ${uri === undefined ? received(jwks.uri, true) : `a ${uri.protocol} URL`}.`,
    );
  }
  if (uri.username !== '' || uri.password !== '') {
    // fetch() refuses such URLs: every fetch would fail. The credentials stay out of the message.
    throw new Error(
      `WsTicketModule: \`${name}.jwks.uri\` carries credentials (user:password@), which fetch refuses. Send them in \`${name}.jwks.headers\` instead (e.g. { authorization: 'Basic …' }).`,
    );
  }
  const timeout = within(jwks.timeout, 5000, 1, 60_000, `${name}.jwks.timeout`, 'milliseconds');
  const cooldown = within(jwks.cooldown, 30, 1, 3600, `${name}.jwks.cooldown`, 'seconds');
  const cacheMaxAge = within(
    jwks.cacheMaxAge,
    Math.max(600, cooldown),
    cooldown,
    604_800,
    `${name}.jwks.cacheMaxAge`,
    'seconds',
  );
  const headers: unknown = jwks.headers ?? {};
  if (
    typeof headers !== 'object' ||
    headers === null ||
    Array.isArray(headers) ||
    Object.values(headers).some((value) => typeof value !== 'string')
  ) {
    throw new Error(
      `WsTicketModule: \`${name}.jwks.headers\` must be an object of strings; received ${received(headers, true)}.`,
    );
  }
  for (const [header, value] of Object.entries(headers as Record<string, string>)) {
    try {
      new Headers([[header, value]]);
    } catch {
      // The value may be a credential: only the header's name is quoted.
      throw new Error(
        `WsTicketModule: \`${name}.jwks.headers\` has an invalid ${/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(header) ? `value for ${received(header)}` : 'header name'} (control characters or characters beyond Latin-1).`,
      );
    }
  }
  return {
    uri,
    timeout: Math.ceil(timeout),
    cooldown: cooldown * 1000,
    cacheMaxAge: cacheMaxAge * 1000,
    headers: headers as Record<string, string>,
  };
}

function within(
  value: unknown,
  fallback: number,
  min: number,
  max: number,
  name: string,
  unit: string,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new Error(
      `WsTicketModule: \`${name}\` must be a number of ${unit} from ${min} to ${max}; received ${received(value)}${numberHint(value)}.`,
    );
  }
  return value;
}
