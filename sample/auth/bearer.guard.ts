import {
  type CanActivate,
  type ExecutionContext,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { UsersService } from '../users/users.service.js';

/** The sample's HTTP auth: a valid bearer token of a current session. Puts the user on `req.user`. */
@Injectable()
export class BearerGuard implements CanActivate {
  constructor(
    private readonly jwt: JwtService,
    private readonly users: UsersService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context
      .switchToHttp()
      .getRequest<{ headers: Record<string, string | undefined>; user?: unknown }>();
    const match = /^Bearer (\S+)$/i.exec(request.headers.authorization ?? '');
    const claims = match
      ? await this.jwt.verifyAsync(match[1], { algorithms: ['HS256'] }).catch(() => undefined)
      : undefined;
    const user = claims && (await this.users.findBySession(claims));
    if (!user) throw new UnauthorizedException();
    request.user = user;
    return true;
  }
}
