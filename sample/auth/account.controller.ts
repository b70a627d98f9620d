import { Controller, HttpCode, HttpStatus, Post, Req, UseGuards } from '@nestjs/common';
import { WsTicketService } from '../../lib/index.js';
import { type User, UsersService } from '../users/users.service.js';
import { BearerGuard } from './bearer.guard.js';

@Controller('account')
export class AccountController {
  constructor(
    private readonly users: UsersService,
    private readonly tickets: WsTicketService,
  ) {}

  /**
   * `POST /api/account/deactivate`: marks the caller inactive, so `resolveUser` refuses them (new
   * tickets → 401, tickets issued before → `user_rejected`), and closes their sockets.
   */
  @Post('deactivate')
  @UseGuards(BearerGuard)
  @HttpCode(HttpStatus.NO_CONTENT)
  async deactivate(@Req() request: { user: User }): Promise<void> {
    await this.users.deactivate(request.user.id);
    await this.tickets.disconnectUser(request.user.id, 'user_revoked');
  }
}
