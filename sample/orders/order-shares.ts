import { ServiceUnavailableException } from '@nestjs/common';

/**
 * Who an order is shared with, by user id. In memory by default; with REDIS_URL (or
 * REDIS_CLUSTER_NODES) it lives in Redis (`RedisOrderShares`), so that a share made on one sample
 * process admits the user on every other. Implementations throw
 * {@link OrderSharesUnavailableError} when their backend cannot be reached.
 */
export abstract class OrderShares {
  abstract add(orderId: string, userId: string): Promise<void>;
  abstract remove(orderId: string, userId: string): Promise<void>;
  abstract has(orderId: string, userId: string): Promise<boolean>;
}

/**
 * The shares cannot be read or written right now. HTTP routes answer 503 (it is an
 * `HttpException`); a room rule that meets it throws, which the module answers `room_forbidden`
 * (fail closed).
 */
export class OrderSharesUnavailableError extends ServiceUnavailableException {
  constructor(options?: { cause?: unknown }) {
    super(
      {
        statusCode: 503,
        error: 'Service Unavailable',
        code: 'order_shares_unavailable',
        message: 'Order shares are unavailable; try again shortly.',
      },
      { cause: options?.cause },
    );
  }
}

/** Process-local shares: right for one sample process, and the default. */
export class MemoryOrderShares extends OrderShares {
  private readonly shares = new Map<string, Set<string>>();

  async add(orderId: string, userId: string): Promise<void> {
    const users = this.shares.get(orderId) ?? new Set<string>();
    users.add(userId);
    this.shares.set(orderId, users);
  }

  async remove(orderId: string, userId: string): Promise<void> {
    const users = this.shares.get(orderId);
    users?.delete(userId);
    if (users?.size === 0) this.shares.delete(orderId);
  }

  async has(orderId: string, userId: string): Promise<boolean> {
    return this.shares.get(orderId)?.has(userId) ?? false;
  }
}
