import type { WsTicketRoomContext, WsTicketRoomParams } from './rooms.types.js';

/** The room patterns of each decorated method, by the method itself. */
const declared = new WeakMap<object, string[]>();

/** The patterns `@WsTicketRoom()` put on a method (none: `[]`). */
export function roomPatternsOf(method: unknown): readonly string[] {
  return (typeof method === 'function' && declared.get(method)) || [];
}

/**
 * Declares a provider method as the rule of the rooms that `pattern` matches: literal text and
 * `{name}` parameters (each one or more characters other than `:` and the character after it in
 * the pattern), e.g. `'order:{id}'`. The
 * method receives `(user, params, context)` and admits with `true` (or a promise of it); it may
 * use the provider's injected services. The provider must be a singleton (the default scope).
 * A room that no rule matches is refused (`room_forbidden`); when several match, all must admit.
 *
 * ```ts
 * @Injectable()
 * export class OrderRooms {
 *   constructor(private readonly orders: OrdersService) {}
 *
 *   @WsTicketRoom('order:{id}')
 *   canJoin(user: User, { id }: { id: string }): Promise<boolean> {
 *     return this.orders.isVisibleTo(id, user.id);
 *   }
 * }
 * ```
 */
export function WsTicketRoom<const P extends string>(pattern: P) {
  return <
    T extends (
      user: never,
      params: WsTicketRoomParams<P>,
      context: WsTicketRoomContext,
    ) => boolean | Promise<boolean>,
  >(
    _target: object,
    _key: string | symbol,
    descriptor: TypedPropertyDescriptor<T>,
  ): void => {
    const method = descriptor.value;
    if (typeof method !== 'function') {
      throw new Error(`@WsTicketRoom(${JSON.stringify(pattern)}) decorates a method only.`);
    }
    const patterns = declared.get(method) ?? [];
    patterns.push(pattern);
    declared.set(method, patterns);
  };
}
