import { Injectable } from '@nestjs/common';
import { OrderShares } from './order-shares.js';

/** An order of the sample: its id and the id of the user who owns it. */
export interface Order {
  id: string;
  ownerId: string;
}

/**
 * Who may see which order: its owner, and the users the owner shared it with. Two fixed orders,
 * `1` of alice (user `1`) and `2` of bob (user `2`); the shares live in {@link OrderShares}
 * (memory, or Redis with REDIS_URL). The room rule of `order:{id}` and the share routes both ask
 * here, so a share and a join can never disagree on the answer.
 */
@Injectable()
export class OrdersService {
  private readonly orders = new Map<string, Order>([
    ['1', { id: '1', ownerId: '1' }],
    ['2', { id: '2', ownerId: '2' }],
  ]);

  constructor(private readonly shares: OrderShares) {}

  /** The order with this id, or undefined. */
  find(id: string): Order | undefined {
    return this.orders.get(id);
  }

  /**
   * Whether the user may see the order: false for an unknown order, without asking the shares.
   * Rejects with `OrderSharesUnavailableError` when the shares cannot be read.
   */
  async canAccess(orderId: string, userId: string): Promise<boolean> {
    const order = this.find(orderId);
    if (!order) return false;
    return order.ownerId === userId || this.shares.has(order.id, userId);
  }

  /** Shares the order with the user (again: no change). */
  share(order: Order, userId: string): Promise<void> {
    return this.shares.add(order.id, userId);
  }

  /** Stops sharing the order with the user (never shared: no change). */
  unshare(order: Order, userId: string): Promise<void> {
    return this.shares.remove(order.id, userId);
  }
}
