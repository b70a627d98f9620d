import { Injectable } from '@nestjs/common';
import { WsTicketRoom, type WsTicketRoomContext } from '../../lib/index.js';
import type { User } from '../users/users.service.js';
import { OrdersService } from './orders.service.js';

/** The room of an order: `order:<id>`. */
export function orderRoom(orderId: string): string {
  return `order:${orderId}`;
}

/**
 * Who may join which room (the module asks on every `ws-ticket:join`, and again on a live refresh
 * or a recovery). Rooms no rule matches are refused (`room_forbidden`); `lobby`, open to every
 * user, is declared in the module options (`rooms: { lobby: true }`).
 */
@Injectable()
export class OrderRoomRules {
  constructor(private readonly orders: OrdersService) {}

  /**
   * `order:<id>`: its owner and the users it is shared with; an unknown order admits no one. Shares
   * out of reach (Redis down) throw, which the module answers `room_forbidden`: fail closed.
   */
  @WsTicketRoom('order:{id}')
  canJoinOrder(
    user: User,
    { id }: { id: string },
    _context: WsTicketRoomContext,
  ): Promise<boolean> {
    return this.orders.canAccess(id, user.id);
  }
}
