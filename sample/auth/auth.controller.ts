import {
  Body,
  Controller,
  Header,
  HttpCode,
  HttpStatus,
  Post,
  Req,
  UnauthorizedException,
  UseGuards,
} from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { WsTicketService } from '../../lib/index.js';
import { UsersService } from '../users/users.service.js';
import { BearerGuard, type BearerRequest } from './bearer.guard.js';

interface LoginBody {
  username?: unknown;
  password?: unknown;
}

@Controller('auth')
export class AuthController {
  constructor(
    private readonly users: UsersService,
    private readonly jwt: JwtService,
    private readonly tickets: WsTicketService,
  ) {}

  /** `POST /api/auth/login` `{ username, password }` → `{ access_token }`. */
  @Post('login')
  @HttpCode(HttpStatus.OK)
  async login(@Body() body: LoginBody): Promise<{ access_token: string }> {
    const user = await this.users.verify(body?.username, body?.password);
    if (!user) throw new UnauthorizedException('Wrong username or password.');
    return { access_token: await this.jwt.signAsync(await this.users.sessionClaims(user)) };
  }

  /**
   * `POST /api/auth/refresh` with a still-valid bearer token of a current session → `{ access_token }`:
   * a new token of the same user and session (`sub`, `sv`) with a new `exp`. Pages call it before
   * their token runs out, so that a socket's refresh (`ws-ticket:refresh`) or a reconnect gets a
   * ticket with a later session end. An expired token, or one from before a logout-all, gets 401:
   * only a new sign-in helps then.
   */
  @Post('refresh')
  @UseGuards(BearerGuard)
  @HttpCode(HttpStatus.OK)
  @Header('Cache-Control', 'no-store')
  async refresh(@Req() request: BearerRequest): Promise<{ access_token: string }> {
    const claims = await this.users.sessionClaims(request.user, request.sessionVersion);
    return { access_token: await this.jwt.signAsync(claims) };
  }

  /**
   * `POST /api/auth/logout-all`: ends every session of the caller: their tokens stop working,
   * tickets already issued are revoked, and their open sockets are closed with `user_revoked`.
   */
  @Post('logout-all')
  @UseGuards(BearerGuard)
  @HttpCode(HttpStatus.NO_CONTENT)
  async logoutAll(@Req() request: BearerRequest): Promise<void> {
    await this.users.logoutAll(request.user.id);
    await this.tickets.revokeUserTickets(request.user.id);
    await this.tickets.disconnectUser(request.user.id, 'user_revoked');
  }
}
