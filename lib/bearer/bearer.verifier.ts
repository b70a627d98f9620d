import { Inject, Injectable, Logger } from '@nestjs/common';
import { decodeJwt } from 'jose';
import { callback } from '../internal/options.js';
import { RefusalLog } from '../session/refusal-log.js';
import { MAX_BEARER_LENGTH, WS_TICKET_LOGGER_CONTEXT } from '../ws-ticket.constants.js';
import { WsTicketError } from '../ws-ticket.errors.js';
import { WS_TICKET_MODULE_OPTIONS } from '../ws-ticket.module-definition.js';
import type { WsTicketClaims, WsTicketModuleOptions } from '../ws-ticket.options.js';
import { WsTicketBearerError } from './bearer.errors.js';
import { checkJwtSources } from './bearer-checks.js';
import { type BearerSource, bearerSource } from './bearer-sources.js';
import { JwksUnavailableError } from './jwks-key-set.js';
import { userIdReader } from './user-id.js';

export { userIdFromSub, userIdReader } from './user-id.js';

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * Verifies `Authorization: Bearer` tokens as the ticket endpoint does, against the `jwt` option's
 * key sources: the header's shape, the source chosen by the token's `iss` (in a list), the
 * signature and registered claims, a required `exp`, and a usable user id (`getUserId`). Inject it
 * to check a bearer in your own controller exactly as the endpoint would.
 */
@Injectable()
export class WsTicketBearerVerifier {
  private readonly logger = new Logger(WS_TICKET_LOGGER_CONTEXT);
  private readonly failures = new RefusalLog(this.logger);
  /** Unset without a `jwt` option. */
  private readonly sources: BearerSource[] | undefined;
  private readonly byIssuer = new Map<string, BearerSource>();
  /** The source without `issuer`, if any: it takes every token no other source claims. */
  private readonly rest: BearerSource | undefined;
  private readonly userIdOf: (claims: WsTicketClaims) => string | undefined;
  private readonly allowMissingExp = new WeakSet<BearerSource>();

  constructor(@Inject(WS_TICKET_MODULE_OPTIONS) options: WsTicketModuleOptions) {
    this.userIdOf = userIdReader(
      callback(options.getUserId, 'getUserId', '(claims) => claims.userId'),
    );
    const checked = checkJwtSources(options.jwt);
    this.sources = checked?.map(({ name, options: source }) => {
      const built = bearerSource(source, name, {
        warn: (message) => this.logger.warn(message),
        onJwksFailure: (uri, error) =>
          this.failures.recordFailure(`JWKS fetch failed (${uri})`, error),
      });
      if (source.allowMissingExp) this.allowMissingExp.add(built);
      return built;
    });
    for (const source of this.sources ?? []) {
      for (const issuer of source.issuers ?? []) this.byIssuer.set(issuer, source);
    }
    this.rest = this.sources?.find((source) => source.issuers === undefined);
    if (checked !== undefined && checked.length > 1 && options.getUserId === undefined) {
      this.logger.warn(
        `\`jwt\` lists ${checked.length} key sources and \`getUserId\` reads \`sub\` alone: users of two issuers with one \`sub\` are one user to rooms, revocation, the issuance limit and the connection cap. If their ids may collide, set \`getUserId\` to tell them apart (prefix the id with its issuer, and answer undefined when the claim is missing); if they never do, set it to (claims) => claims.sub.`,
      );
    }
  }

  /** Whether bearer tokens can be verified: the `jwt` option is set. */
  get enabled(): boolean {
    return this.sources !== undefined;
  }

  /**
   * Verifies an `Authorization` header value and returns the verified claims, which always name a
   * user (`getUserId`).
   * @throws WsTicketBearerError `bearer_missing` or `bearer_invalid`
   * @throws WsTicketError `jwks_unavailable` (with `retryAfter`): the token's key is not cached and
   *   its JWKS endpoint cannot be asked now
   * @throws Error when the module has no `jwt` option
   */
  async verify(authorization: unknown): Promise<WsTicketClaims> {
    if (this.sources === undefined) {
      throw new Error('WsTicketBearerVerifier: set the `jwt` option of WsTicketModule.');
    }
    if (typeof authorization !== 'string' || authorization.length === 0) {
      throw new WsTicketBearerError('bearer_missing', 'Bearer token required.');
    }
    const match = authorization.length <= MAX_BEARER_LENGTH ? BEARER.exec(authorization) : null;
    if (!match) throw new WsTicketBearerError('bearer_invalid', 'Malformed bearer token.');
    const token = match[1];
    const source = this.sourceOf(token);
    let claims: WsTicketClaims;
    try {
      claims = await source.verify(token);
    } catch (error) {
      // Not the token's doing (a provider key jose cannot import, an app JwtService that throws):
      // still a 401, but the operator must see why every token fails. Never the token itself.
      if (!(error instanceof JwksUnavailableError) && !isTokenError(error)) {
        this.failures.recordFailure('Bearer verification failed', error);
      }
      throw refusalOf(error);
    }
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
      throw new WsTicketBearerError('bearer_invalid', 'The bearer token is invalid.');
    }
    if (typeof claims.exp !== 'number' && !this.allowMissingExp.has(source)) {
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

  /** The one source, or in a list the one the token's (unverified) `iss` names. */
  private sourceOf(token: string): BearerSource {
    const sources = this.sources as BearerSource[];
    if (sources.length === 1) return sources[0];
    let issuer: unknown;
    try {
      issuer = decodeJwt(token).iss;
    } catch {
      throw new WsTicketBearerError('bearer_invalid', 'The bearer token is invalid.');
    }
    const source = (typeof issuer === 'string' && this.byIssuer.get(issuer)) || this.rest;
    if (source === undefined) {
      throw new WsTicketBearerError('bearer_invalid', "The bearer token's issuer is not accepted.");
    }
    return source;
  }
}

/** jsonwebtoken's refusals of a token (its other errors are failures). */
const JSONWEBTOKEN_ERRORS = new Set(['JsonWebTokenError', 'TokenExpiredError', 'NotBeforeError']);

/** Whether a verifying library refused the token itself (jose: `ERR_JWT_*`, `ERR_JWS_*`…). */
function isTokenError(error: unknown): boolean {
  const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown };
  if (typeof code === 'string') {
    return /^ERR_(JWT|JWS)_|^ERR_JOSE_ALG_NOT_ALLOWED$|^ERR_JWKS_(NO|MULTIPLE)_MATCHING_KEYS?$/.test(
      code,
    );
  }
  return typeof name === 'string' && JSONWEBTOKEN_ERRORS.has(name);
}

/** A verifying library's error as the endpoint answers it. */
function refusalOf(error: unknown): Error {
  if (error instanceof JwksUnavailableError) {
    return new WsTicketError('jwks_unavailable', { retryAfter: error.retryAfter });
  }
  const { code, name } = (error ?? {}) as { code?: unknown; name?: unknown };
  const expired = code === 'ERR_JWT_EXPIRED' || name === 'TokenExpiredError';
  return new WsTicketBearerError(
    'bearer_invalid',
    expired ? 'The bearer token has expired.' : 'The bearer token is invalid.',
  );
}
