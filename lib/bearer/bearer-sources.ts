import type { KeyObject } from 'node:crypto';
import { JwtService, type JwtVerifyOptions } from '@nestjs/jwt';
import {
  type CryptoKey,
  decodeProtectedHeader,
  errors,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  jwtVerify,
} from 'jose';
import type { WsTicketClaims } from '../ws-ticket.options.js';
import {
  WS_TICKET_JWT_ALGORITHMS,
  type WsTicketJwtAlgorithm,
  type WsTicketJwtOptions,
} from './bearer.options.js';
import { checkJwks, issuersOf } from './bearer-checks.js';
import { checkAlgorithmsFit, defaultAlgorithmOf, publicKey, secretKey } from './bearer-keys.js';
import { JwksKeySet, type JwksKeySetSettings } from './jwks-key-set.js';

/** Keys tried for a token without `kid` that several keys of the set could have signed. */
const MAX_CANDIDATE_KEYS = 4;

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
  return new KeySource(
    secretKey(options.secret, name),
    publicKey(options.publicKey, name),
    options,
    issuers,
    name,
  );
}

function warnJwks(
  jwks: JwksKeySetSettings,
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

/** A JWKS source: jose's verification, with the key set's keys. */
class JoseSource implements BearerSource {
  constructor(
    private readonly key: JWTVerifyGetKey,
    private readonly options: JWTVerifyOptions,
    readonly issuers: readonly string[] | undefined,
  ) {}

  async verify(token: string): Promise<WsTicketClaims> {
    try {
      return (await jwtVerify(token, this.key, this.options)).payload as WsTicketClaims;
    } catch (error) {
      // A token without `kid` while the set holds several keys for its algorithm (a rotation in
      // progress): jose hands the candidates over; a few are tried, each one a full verification.
      if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
      return this.verifyWithCandidates(token, error);
    }
  }

  private async verifyWithCandidates(
    token: string,
    candidates: errors.JWKSMultipleMatchingKeys,
  ): Promise<WsTicketClaims> {
    let tried = 0;
    let last: unknown = candidates;
    for await (const key of candidates as unknown as AsyncIterable<CryptoKey>) {
      if (tried++ === MAX_CANDIDATE_KEYS) break;
      try {
        return (await jwtVerify(token, key, this.options)).payload as WsTicketClaims;
      } catch (error) {
        last = error;
        // Only a wrong key moves on to the next: an expired token is expired with any key.
        if (!(error instanceof errors.JWSSignatureVerificationFailed)) throw error;
      }
    }
    throw last;
  }
}

/**
 * A `secret` and/or `publicKey` source: `@nestjs/jwt` (jsonwebtoken) with the keys as KeyObjects,
 * which checks an HMAC token about twice as fast as jose's WebCrypto path. With both keys, the
 * token's `alg` picks the key; each key is used only with the algorithms of its kind.
 */
class KeySource implements BearerSource {
  private readonly hmac: { jwt: JwtService; options: JwtVerifyOptions } | undefined;
  private readonly signature: { jwt: JwtService; options: JwtVerifyOptions } | undefined;

  constructor(
    secret: KeyObject | undefined,
    key: KeyObject | undefined,
    options: WsTicketJwtOptions,
    readonly issuers: readonly string[] | undefined,
    name: string,
  ) {
    const algorithms: WsTicketJwtAlgorithm[] = options.algorithms
      ? [...options.algorithms]
      : [...(secret ? ['HS256' as const] : []), ...(key ? [defaultAlgorithmOf(key, name)] : [])];
    if (key) checkAlgorithmsFit(key, algorithms, name);
    const claims = {
      issuer: copy(options.issuer),
      audience: copy(options.audience),
      clockTolerance: options.clockTolerance,
    };
    const hmac = algorithms.filter((name) => name.startsWith('HS'));
    const other = algorithms.filter((name) => !name.startsWith('HS'));
    if (secret && hmac.length > 0) {
      this.hmac = {
        jwt: new JwtService({ secret }),
        options: { ...claims, algorithms: hmac } as JwtVerifyOptions,
      };
    }
    if (key && other.length > 0) {
      this.signature = {
        jwt: new JwtService({ publicKey: key }),
        options: { ...claims, algorithms: other } as JwtVerifyOptions,
      };
    }
  }

  verify(token: string): Promise<WsTicketClaims> {
    const verifier =
      this.hmac && this.signature ? this.byAlgorithm(token) : (this.hmac ?? this.signature);
    if (verifier === undefined) return Promise.reject(new Error('No key for this algorithm.'));
    return verifier.jwt.verifyAsync<WsTicketClaims>(token, { ...verifier.options });
  }

  private byAlgorithm(token: string) {
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      return undefined;
    }
    return typeof alg === 'string' && alg.startsWith('HS') ? this.hmac : this.signature;
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
