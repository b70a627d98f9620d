import type { JwtService } from '@nestjs/jwt';

/**
 * The JWT signature algorithms the ticket endpoint can accept (names are case-sensitive, as in a
 * token's `alg` header). `none` is deliberately absent.
 */
export const WS_TICKET_JWT_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
] as const;

/** A JWT signature algorithm the ticket endpoint may accept. `none` is deliberately absent. */
export type WsTicketJwtAlgorithm = (typeof WS_TICKET_JWT_ALGORITHMS)[number];

/**
 * Where an identity provider publishes its signing keys (`jwt.jwks`), fetched with `jose`. The
 * keys are cached; a token whose `kid` is not in the cache makes the set be fetched again, at most
 * once per `cooldown`, so that a flood of made-up `kid`s never becomes a flood against the
 * provider. While the endpoint is down, tokens whose key is cached keep verifying; the others are
 * answered 503 `jwks_unavailable` with `Retry-After`, within `timeout`.
 */
export interface WsTicketJwksOptions {
  /**
   * The JWKS URL: the `jwks_uri` of the provider's `/.well-known/openid-configuration`, such as
   * `https://YOUR_DOMAIN/.well-known/jwks.json` (Auth0) or
   * `https://cognito-idp.REGION.amazonaws.com/POOL_ID/.well-known/jwks.json` (Cognito). Redirects
   * are not followed. `http:` works, with a startup warning unless the host is loopback: keys
   * fetched in clear text can be replaced by anyone on the path.
   */
  uri: string | URL;
  /**
   * Upper bound on one fetch of the key set (answer and body), in milliseconds, from 1 to 60000. A
   * slower fetch is abandoned and the request that needed it answered 503 `jwks_unavailable`.
   * @default 5000
   */
  timeout?: number | undefined;
  /**
   * Shortest time between two fetches of the key set, in seconds: for a `kid` that is not cached,
   * and after a failed fetch (during which requests needing a fetch are answered 503
   * `jwks_unavailable` at once). From 1 to 3600.
   * @default 30
   */
  cooldown?: number | undefined;
  /**
   * Age of the cached key set, in seconds, after which the next verification fetches it again in
   * the background (a key the provider removed stops verifying then). The cached keys stay in use
   * meanwhile, and for as long as the endpoint stays down. From `cooldown` to 604800 (a week).
   * @default 600 (or `cooldown`, when longer)
   */
  cacheMaxAge?: number | undefined;
  /**
   * Extra request headers for the fetch (an API gateway's key, say). Never logged, nor quoted by
   * the startup error an invalid value (a control character) causes.
   * @default {} (jose's `User-Agent` and `Accept` only)
   */
  headers?: Readonly<Record<string, string>> | undefined;
}

/**
 * One source of keys for `Authorization: Bearer` tokens: `secret` and/or `publicKey`, or
 * `service`, or `jwks`.
 */
export interface WsTicketJwtOptions {
  /**
   * Shared secret for HMAC algorithms (HS256/384/512). A public key given here (PEM, also with
   * escaped newlines, a JWK or base64 DER) is refused at startup: it would let anyone who has the
   * public key sign tokens.
   */
  secret?: string | Buffer | undefined;
  /**
   * PEM public key (or certificate) for RS*, PS* (an RSA key) or ES* (a P-256, P-384 or P-521 key)
   * tokens. Other key types, RSA-PSS-only keys included, are refused at startup.
   */
  publicKey?: string | Buffer | undefined;
  /**
   * An existing `JwtService` (for example the app's own, from `JwtModule`) to verify with instead of
   * building one from `secret` / `publicKey`. It keeps its own `verifyOptions`: of `algorithms`,
   * `issuer`, `audience` and `clockTolerance` below, only those you set are passed, and they win.
   */
  service?: JwtService | undefined;
  /**
   * An identity provider's JSON Web Key Set (Auth0, Cognito, Keycloak, Entra ID, Google…). Only
   * asymmetric algorithms are accepted from it; `kid`s are looked up in this source's own set, so a
   * key of one issuer never verifies another's tokens. Set `issuer` and `audience` too: without
   * them any token the provider signed, for any app, is accepted (a startup warning says so).
   */
  jwks?: WsTicketJwksOptions | undefined;
  /**
   * Accepted signature algorithms. `none` is never accepted; a `jwks` source accepts asymmetric
   * ones only.
   * @default ['HS256'] with `secret`; with `publicKey` alone, the key's own (`RS256` for RSA,
   *   `ES256` / `ES384` / `ES512` by curve); with both, both; with `jwks`, every RS, PS and ES
   *   algorithm (each key is used only with the algorithm its type and `alg` allow); with
   *   `service`, the service's own `verifyOptions.algorithms` (jsonwebtoken's key-type default
   *   when it has none)
   */
  algorithms?: readonly WsTicketJwtAlgorithm[] | undefined;
  /**
   * Required `iss` claim (one of, when a list). Not checked when unset. In a list of sources, it
   * also chooses the source of a token.
   */
  issuer?: string | readonly string[] | undefined;
  /** Required `aud` claim (one of, when a list). Not checked when unset. */
  audience?: string | readonly string[] | undefined;
  /**
   * Allowed clock skew when checking `exp` and `nbf`, in seconds, from 0 to 300.
   * @default 0
   */
  clockTolerance?: number | undefined;
  /**
   * Accept tokens that carry no `exp` claim. Such tokens never expire, so this is off by default:
   * a token without `exp` is refused with 401.
   * @default false
   */
  allowMissingExp?: boolean | undefined;
}
