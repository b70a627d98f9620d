import { Logger } from '@nestjs/common';
import type { JwtService } from '@nestjs/jwt';
import {
  type WsTicketClaims,
  WsTicketError,
  type WsTicketJwtOptions,
  type WsTicketResolveUser,
} from '../../lib/index.js';
import { redactJwksUri, SAMPLE_ISSUER, type SampleConfig } from '../config.js';
import { UserStateUnavailableError } from '../users/user-state.js';
import type { User, UsersService } from '../users/users.service.js';

/**
 * The bearer tokens the ticket endpoint accepts (the module's `jwt` option): the sample's own,
 * verified by the app's JwtService (HS256, `iss` {@link SAMPLE_ISSUER}); with `JWT_JWKS_URI`, also
 * the identity provider's (RS256 or ES256, checked against `JWT_ISSUER` and `JWT_AUDIENCE` when
 * set). The module picks a token's source by its `iss`: the sample's issuer goes to the JwtService,
 * every other one to the JWKS, so a provider's token can never pass for one of the sample's.
 */
export function ticketTokenSources(
  config: SampleConfig,
  jwtService: JwtService,
): WsTicketJwtOptions | WsTicketJwtOptions[] {
  const own: WsTicketJwtOptions = {
    service: jwtService,
    algorithms: ['HS256'],
    issuer: SAMPLE_ISSUER,
  };
  if (config.jwtJwksUri === undefined) return own;
  const { jwtIssuer = 'any', jwtAudience = 'any' } = config;
  new Logger('Sample').log(
    `The ticket endpoint also accepts identity provider tokens: RS256 or ES256 signed with the keys at ${redactJwksUri(config.jwtJwksUri)}, iss ${jwtIssuer}, aud ${jwtAudience}, sub a sample user's id.`,
  );
  return [
    own,
    {
      jwks: { uri: config.jwtJwksUri },
      // Unset: this source takes every token whose `iss` is not the sample's (the module warns).
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
      algorithms: ['RS256', 'ES256'],
    },
  ];
}

/**
 * The module's `resolveUser`. The sample's own tokens name a session (`sv`): unknown, deactivated
 * or logged-out users are refused. An identity provider's tokens carry no session of the sample:
 * they name an active user by id (`sub`), and their sessions end at the provider. User state out of
 * reach is not a refusal: 503 / `store_unavailable`, which clients retry.
 */
export function ticketUser(config: SampleConfig, users: UsersService): WsTicketResolveUser<User> {
  // The module chose the keys by this same `iss`: a token without the sample's was verified
  // against the JWKS, never with the sample's secret (and without JWT_JWKS_URI none passes).
  const fromProvider = (claims: WsTicketClaims) =>
    config.jwtJwksUri !== undefined && claims.iss !== SAMPLE_ISSUER;
  return (claims) =>
    (fromProvider(claims) ? users.findActive(claims.sub) : users.findBySession(claims)).catch(
      (error: unknown) => {
        if (!(error instanceof UserStateUnavailableError)) throw error;
        throw new WsTicketError('store_unavailable', { cause: error });
      },
    );
}
