import { JwtService, type JwtVerifyOptions } from '@nestjs/jwt';
import { flag, received } from '../internal/options.js';
import { DEFAULT_JWT_ALGORITHMS, MAX_BEARER_LENGTH } from '../ws-ticket.constants.js';
import {
  WS_TICKET_JWT_ALGORITHMS,
  type WsTicketClaims,
  type WsTicketJwtOptions,
  type WsTicketUserIdOf,
} from '../ws-ticket.options.js';
import { WsTicketBearerError } from './bearer.errors.js';
import { publicKey, secretKey } from './bearer-keys.js';

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * The default {@link WsTicketUserIdOf}: the `sub` claim, when it is a non-empty string or a finite
 * number (`1` and `"1"` are the same user).
 */
export function userIdFromSub(claims: WsTicketClaims): string | undefined {
  const sub: unknown = claims.sub;
  if (typeof sub === 'string') return sub === '' ? undefined : sub;
  return typeof sub === 'number' && Number.isFinite(sub) ? String(sub) : undefined;
}

/**
 * Wraps the app's `getUserId` (default: {@link userIdFromSub}) so that it always answers a
 * non-empty string or `undefined`: numbers become strings, anything else (or a throw) is no id.
 */
export function userIdReader(
  getUserId: WsTicketUserIdOf = userIdFromSub,
): (claims: WsTicketClaims) => string | undefined {
  return (claims) => {
    let id: unknown;
    try {
      id = getUserId(claims);
    } catch {
      return undefined;
    }
    if (typeof id === 'string') return id === '' ? undefined : id;
    return typeof id === 'number' && Number.isFinite(id) ? String(id) : undefined;
  };
}

/**
 * Verifies `Authorization: Bearer` tokens for the ticket endpoint: the header's shape, the
 * signature and registered claims (through `@nestjs/jwt`), a required `exp`, and a usable user id.
 */
export class WsTicketBearerVerifier {
  private readonly jwt: JwtService;
  /** Only what the app set: an app's own `JwtService` keeps its `verifyOptions` for the rest. */
  private readonly verifyOptions: JwtVerifyOptions;

  constructor(
    private readonly options: WsTicketJwtOptions,
    private readonly userIdOf: (claims: WsTicketClaims) => string | undefined,
  ) {
    checkJwtOptions(options);
    const algorithms = options.algorithms ?? (options.service ? undefined : DEFAULT_JWT_ALGORITHMS);
    if (
      algorithms !== undefined &&
      (algorithms.length === 0 || algorithms.some((a) => String(a).toLowerCase() === 'none'))
    ) {
      throw new Error(
        'WsTicketModule: `jwt.algorithms` must list at least one algorithm, never "none".',
      );
    }
    if (!options.service && !options.secret && !options.publicKey) {
      const given = (['secret', 'publicKey', 'service'] as const)
        .filter((name) => name in options)
        .map((name) => `\`jwt.${name}\` ${received(options[name], true)}`);
      throw new Error(
        `WsTicketModule: set \`jwt.secret\`, \`jwt.publicKey\` or \`jwt.service\`; received ${given.length > 0 ? given.join(', ') : 'none of them'} (a missing environment variable? ConfigService.getOrThrow() names it).`,
      );
    }
    this.jwt =
      options.service ??
      new JwtService({
        secret: secretKey(options.secret),
        publicKey: publicKey(options.publicKey),
      });
    // @nestjs/jwt spreads these over its own verifyOptions: an `undefined` would erase them.
    this.verifyOptions = definedOnly({
      algorithms: algorithms === undefined ? undefined : [...algorithms],
      issuer: options.issuer,
      audience: options.audience,
      clockTolerance: options.clockTolerance,
    }) as JwtVerifyOptions;
  }

  /**
   * Verifies an `Authorization` header value and returns the verified claims.
   * @throws WsTicketBearerError `bearer_missing` or `bearer_invalid`
   */
  async verify(authorization: unknown): Promise<WsTicketClaims> {
    if (typeof authorization !== 'string' || authorization.length === 0) {
      throw new WsTicketBearerError('bearer_missing', 'Bearer token required.');
    }
    const match = authorization.length <= MAX_BEARER_LENGTH ? BEARER.exec(authorization) : null;
    if (!match) throw new WsTicketBearerError('bearer_invalid', 'Malformed bearer token.');
    let claims: WsTicketClaims;
    try {
      claims = await this.jwt.verifyAsync<WsTicketClaims>(match[1], { ...this.verifyOptions });
    } catch (error) {
      const expired = (error as Error)?.name === 'TokenExpiredError';
      throw new WsTicketBearerError(
        'bearer_invalid',
        expired ? 'The bearer token has expired.' : 'The bearer token is invalid.',
      );
    }
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
      throw new WsTicketBearerError('bearer_invalid', 'The bearer token is invalid.');
    }
    if (typeof claims.exp !== 'number' && !this.options.allowMissingExp) {
      throw new WsTicketBearerError('bearer_invalid', 'The bearer token has no expiry.');
    }
    if (this.userIdOf(claims) === undefined) {
      throw new WsTicketBearerError(
        'bearer_invalid',
        'The bearer token names no user (no usable subject).',
      );
    }
    return claims;
  }
}

/** Type checks of `jwt`, saying what was received (only the type, for keys and secrets). */
function checkJwtOptions(options: WsTicketJwtOptions): void {
  for (const name of ['secret', 'publicKey'] as const) {
    const key: unknown = options[name];
    if (key !== undefined && typeof key !== 'string' && !Buffer.isBuffer(key)) {
      throw new Error(
        `WsTicketModule: \`jwt.${name}\` must be a string or a Buffer; received ${received(key, true)}.`,
      );
    }
  }
  const service: unknown = options.service;
  if (
    service !== undefined &&
    typeof (service as { verifyAsync?: unknown } | null)?.verifyAsync !== 'function'
  ) {
    throw new Error(
      `WsTicketModule: \`jwt.service\` must be a JwtService from @nestjs/jwt (inject it in forRootAsync({ inject: [JwtService], useFactory })); received ${received(service, true)}.`,
    );
  }
  const algorithms: unknown = options.algorithms;
  if (
    algorithms !== undefined &&
    (!Array.isArray(algorithms) || algorithms.some((a) => typeof a !== 'string'))
  ) {
    const hint =
      typeof algorithms === 'string' ? `: pass a list, e.g. ['${algorithms.split(',')[0]}']` : '';
    throw new Error(
      `WsTicketModule: \`jwt.algorithms\` must be a list of algorithm names, e.g. ['HS256']; received ${received(algorithms)}${hint}.`,
    );
  }
  // `none` has its own message (in the verifier): never accepted, whatever the case.
  const supported: readonly string[] = WS_TICKET_JWT_ALGORITHMS;
  const unknown = ((algorithms ?? []) as string[]).find(
    (name) => !supported.includes(name) && name.toLowerCase() !== 'none',
  );
  if (unknown !== undefined) {
    throw new Error(
      `WsTicketModule: \`jwt.algorithms\` names an algorithm this module does not know: ${received(unknown)} (names are case-sensitive, without spaces: trim environment values). Supported: ${supported.join(', ')}.`,
    );
  }
  for (const name of ['issuer', 'audience'] as const) {
    const value: unknown = options[name];
    if (
      value !== undefined &&
      typeof value !== 'string' &&
      !(Array.isArray(value) && value.every((entry) => typeof entry === 'string'))
    ) {
      throw new Error(
        `WsTicketModule: \`jwt.${name}\` must be a string or a list of strings; received ${received(value)}.`,
      );
    }
  }
  const tolerance: unknown = options.clockTolerance;
  if (
    tolerance !== undefined &&
    (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance < 0)
  ) {
    const hint =
      typeof tolerance === 'string' && Number.isFinite(Number(tolerance))
        ? ': convert environment values with Number(…)'
        : '';
    throw new Error(
      `WsTicketModule: \`jwt.clockTolerance\` must be a number of seconds, 0 or more (e.g. 5); received ${received(tolerance)}${hint}.`,
    );
  }
  flag(options.allowMissingExp, 'jwt.allowMissingExp');
}

function definedOnly<T extends Record<string, unknown>>(object: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(object).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}
