import {
  Body,
  Controller,
  HttpCode,
  HttpStatus,
  Param,
  Post,
  Req,
  UseGuards,
} from '@nestjs/common';
import { WsTicketError, WsTicketRooms } from '../../lib/index.js';
import { BearerGuard, type BearerRequest } from '../auth/bearer.guard.js';
import { httpError } from '../http/http-error.js';
import { type User, UsersService } from '../users/users.service.js';
import { orderRoom } from './order-room.rules.js';
import { type Order, OrdersService } from './orders.service.js';

/**
 * `POST /api/orders/:id/share` and `/unshare` `{ "username": "bob" }`: the owner of an order lets
 * another user into its room (`order:<id>`), or takes them out of it on every instance.
 */
@Controller('orders')
@UseGuards(BearerGuard)
export class OrdersController {
  constructor(
    private readonly orders: OrdersService,
    private readonly users: UsersService,
    private readonly rooms: WsTicketRooms,
  ) {}

  /**
   * 204 once the order is shared with the user: from then on they may join `order:<id>`. 400 on a
   * body without a `username` string, or naming the owner; 403 when the caller does not own the
   * order; 404 for an unknown order or username.
   */
  @Post(':id/share')
  @HttpCode(HttpStatus.NO_CONTENT)
  async share(
    @Req() request: BearerRequest,
    @Param('id') id: string,
    @Body() body: unknown,
  ): Promise<void> {
    const { order, user } = this.resolve(request, id, body);
    await this.orders.share(order, user.id);
  }

  /**
   * 204 once the share is gone and the user's sockets left `order:<id>` on every instance, each
   * with `ws-ticket:left` `{ room, code: 'room_revoked' }`. The same refusals as `share`; 503 when
   * some instance could not be told (the share is gone anyway: a retry finishes the removal).
   */
  @Post(':id/unshare')
  @HttpCode(HttpStatus.NO_CONTENT)
  async unshare(
    @Req() request: BearerRequest,
    @Param('id') id: string,
    @Body() body: unknown,
  ): Promise<void> {
    const { order, user } = this.resolve(request, id, body);
    // The share goes first: a join that races this removal asks the rule again and is refused,
    // so no socket of the user gets back in after the removal below.
    await this.orders.unshare(order, user.id);
    try {
      await this.rooms.removeFromRoom(user.id, orderRoom(order.id));
    } catch (error) {
      if (!(error instanceof WsTicketError && error.code === 'store_unavailable')) throw error;
      throw httpError(
        HttpStatus.SERVICE_UNAVAILABLE,
        'store_unavailable',
        'The share is removed, but not every instance could be told to take the user out of the room; try again.',
      );
    }
  }

  /** The order the caller owns and the user the body names, or the HTTP refusal. */
  private resolve(request: BearerRequest, id: string, body: unknown): { order: Order; user: User } {
    const username = (body as { username?: unknown } | null | undefined)?.username;
    if (typeof username !== 'string' || username === '') {
      throw httpError(
        HttpStatus.BAD_REQUEST,
        'bad_request',
        'The body must be { "username": "<a user name>" }.',
      );
    }
    const order = this.orders.find(id);
    if (!order) throw httpError(HttpStatus.NOT_FOUND, 'not_found', 'There is no such order.');
    if (order.ownerId !== request.user.id) {
      throw httpError(
        HttpStatus.FORBIDDEN,
        'forbidden',
        'Only the owner of an order may share it.',
      );
    }
    const user = this.users.findByUsername(username);
    if (!user) throw httpError(HttpStatus.NOT_FOUND, 'not_found', 'There is no such user.');
    if (user.id === order.ownerId) {
      throw httpError(
        HttpStatus.BAD_REQUEST,
        'bad_request',
        'The owner of an order always sees it: name another user.',
      );
    }
    return { order, user };
  }
}
