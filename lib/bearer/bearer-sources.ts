import type { KeyObject } from 'node:crypto';
import type { JwtService, JwtVerifyOptions } from '@nestjs/jwt';
import { type JWTVerifyGetKey, type JWTVerifyOptions, jwtVerify } from 'jose';
import type { WsTicketClaims } from '../ws-ticket.options.js';
import {
  WS_TICKET_JWT_ALGORITHMS,
  type WsTicketJwtAlgorithm,
  type WsTicketJwtOptions,
} from './bearer.options.js';
import { type CheckedJwks, checkJwks, issuersOf } from './bearer-checks.js';
import { defaultAlgorithmOf, publicKey, secretKey } from './bearer-keys.js';
import { JwksKeySet } from './jwks-key-set.js';

/** Every asymmetric algorithm: what a `jwks` source accepts by default. */
const ASYMMETRIC = WS_TICKET_JWT_ALGORITHMS.filter((name) => !name.startsWith('HS'));

/** One key source of `jwt`: verifies a token's signature and registered claims. */
export interface BearerSource {
  /** The issuers that choose this source in a list; `undefined`: the rest. */
  readonly issuers: readonly string[] | undefined;
  /** Resolves the verified claims; rejects with the verifying library's error. */
  verify(token: string): Promise<WsTicketClaims>;
}

/** What a source reports while it runs. */
export interface BearerSourceEvents {
  /** A JWKS source's fetch failed (`uri` without credentials nor query). */
  onJwksFailure: (uri: string, error: unknown) => void;
  /** A startup warning. */
  warn: (message: string) => void;
}

/** Builds the source `options` describes (checked by `checkJwtSources`). */
export function bearerSource(
  options: WsTicketJwtOptions,
  name: string,
  events: BearerSourceEvents,
): BearerSource {
  const issuers = issuersOf(options);
  if (options.service) return new ServiceSource(options.service, options, issuers);
  const verifyOptions: JWTVerifyOptions = {
    issuer: copy(options.issuer),
    audience: copy(options.audience),
    clockTolerance: options.clockTolerance,
  };
  if (options.jwks !== undefined) {
    const jwks = checkJwks(options.jwks, name);
    warnJwks(jwks, options, name, events.warn);
    const shown = `${jwks.uri.origin}${jwks.uri.pathname}`;
    const keys = new JwksKeySet(jwks, (error) => events.onJwksFailure(shown, error));
    verifyOptions.algorithms = [...(options.algorithms ?? ASYMMETRIC)];
    return new JoseSource(keys.getKey, verifyOptions, issuers);
  }
  const secret = secretKey(options.secret);
  const key = publicKey(options.publicKey);
  const algorithms: WsTicketJwtAlgorithm[] = options.algorithms
    ? [...options.algorithms]
    : [...(secret ? ['HS256' as const] : []), ...(key ? [defaultAlgorithmOf(key)] : [])];
  verifyOptions.algorithms = algorithms;
  return new JoseSource(keyFor(secret, key), verifyOptions, issuers);
}

/** The one key, or the one the token's algorithm needs when both are set. */
function keyFor(
  secret: KeyObject | undefined,
  key: KeyObject | undefined,
): KeyObject | JWTVerifyGetKey {
  if (secret && key) return (header) => (header.alg.startsWith('HS') ? secret : key);
  return (secret ?? key) as KeyObject;
}

function warnJwks(
  jwks: CheckedJwks,
  options: WsTicketJwtOptions,
  name: string,
  warn: (message: string) => void,
): void {
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(jwks.uri.hostname);
  if (jwks.uri.protocol === 'http:' && !loopback) {
    warn(
      `\`${name}.jwks.uri\` is a plain http: URL: anyone on the path can replace the keys and sign tokens. Use the provider's https: URL.`,
    );
  }
  const missing = (['issuer', 'audience'] as const).filter((key) => options[key] === undefined);
  if (missing.length > 0) {
    warn(
      `\`${name}\` (jwks) sets no ${missing.map((key) => `\`${key}\``).join(' nor ')}: any token the provider signed${missing.includes('audience') ? ', for any of its apps,' : ''} is accepted. Set ${missing.map((key) => `\`${name}.${key}\``).join(' and ')} (the provider's \`iss\` and your API's \`aud\`).`,
    );
  }
}

function copy<T>(value: T | readonly T[] | undefined): T | T[] | undefined {
  return Array.isArray(value) ? [...value] : (value as T | undefined);
}

class JoseSource implements BearerSource {
  constructor(
    private readonly key: KeyObject | JWTVerifyGetKey,
    private readonly options: JWTVerifyOptions,
    readonly issuers: readonly string[] | undefined,
  ) {}

  async verify(token: string): Promise<WsTicketClaims> {
    const { payload } =
      typeof this.key === 'function'
        ? await jwtVerify(token, this.key, this.options)
        : await jwtVerify(token, this.key, this.options);
    return payload as WsTicketClaims;
  }
}

class ServiceSource implements BearerSource {
  /** Only what the app set: an app's own `JwtService` keeps its `verifyOptions` for the rest. */
  private readonly options: JwtVerifyOptions;

  constructor(
    private readonly service: JwtService,
    options: WsTicketJwtOptions,
    readonly issuers: readonly string[] | undefined,
  ) {
    // @nestjs/jwt spreads these over its own verifyOptions: an `undefined` would erase them.
    this.options = Object.fromEntries(
      Object.entries({
        algorithms: copy(options.algorithms),
        issuer: copy(options.issuer),
        audience: copy(options.audience),
        clockTolerance: options.clockTolerance,
      }).filter(([, value]) => value !== undefined),
    ) as JwtVerifyOptions;
  }

  verify(token: string): Promise<WsTicketClaims> {
    return this.service.verifyAsync<WsTicketClaims>(token, { ...this.options });
  }
}
