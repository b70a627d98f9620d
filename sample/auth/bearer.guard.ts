import {
  type CanActivate,
  type ExecutionContext,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { type SessionClaims, type User, UsersService } from '../users/users.service.js';

/** What {@link BearerGuard} puts on the request. */
export interface BearerRequest {
  user: User;
  /** The session version (`sv`) of the verified token: that of the user's current session. */
  sessionVersion: number;
}

/**
 * The sample's HTTP auth: a valid bearer token of a current session. Puts the user and the token's
 * session version on the request ({@link BearerRequest}). Only the sample's own tokens (HS256, its
 * secret) pass: an identity provider's (JWT_JWKS_URI) get tickets, not these routes.
 */
@Injectable()
export class BearerGuard implements CanActivate {
  constructor(
    private readonly jwt: JwtService,
    private readonly users: UsersService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context
      .switchToHttp()
      .getRequest<{ headers: Record<string, string | undefined> } & Partial<BearerRequest>>();
    const match = /^Bearer (\S+)$/i.exec(request.headers.authorization ?? '');
    const claims: SessionClaims | undefined = match
      ? await this.jwt.verifyAsync(match[1], { algorithms: ['HS256'] }).catch(() => undefined)
      : undefined;
    const user = claims && (await this.users.findBySession(claims));
    if (!user) throw new UnauthorizedException();
    request.user = user;
    // findBySession matched it against the user's current version, a number.
    request.sessionVersion = claims.sv as number;
    return true;
  }
}
