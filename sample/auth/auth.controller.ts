import {
  Body,
  Controller,
  HttpCode,
  HttpStatus,
  Post,
  UnauthorizedException,
} from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { UsersService } from '../users/users.service.js';

interface LoginBody {
  username?: unknown;
  password?: unknown;
}

@Controller('auth')
export class AuthController {
  constructor(
    private readonly users: UsersService,
    private readonly jwt: JwtService,
  ) {}

  /** `POST /api/auth/login` `{ username, password }` → `{ access_token }`. */
  @Post('login')
  @HttpCode(HttpStatus.OK)
  async login(@Body() body: LoginBody): Promise<{ access_token: string }> {
    const user = this.users.verify(body?.username, body?.password);
    if (!user) throw new UnauthorizedException('Wrong username or password.');
    return { access_token: await this.jwt.signAsync({ sub: user.id, username: user.username }) };
  }
}
