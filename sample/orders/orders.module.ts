import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import { OrderRoomRules } from './order-room.rules.js';
import { MemoryOrderShares, OrderShares } from './order-shares.js';
import { OrdersController } from './orders.controller.js';
import { OrdersService } from './orders.service.js';

/** Orders, their shares, the share routes and the rule of their rooms (`order:{id}`). */
@Module({})
export class OrdersModule {
  /** `shares` replaces the in-memory shares (the Redis ones when REDIS_URL is set). */
  static register(
    shares: Provider = { provide: OrderShares, useClass: MemoryOrderShares },
  ): DynamicModule {
    return {
      module: OrdersModule,
      controllers: [OrdersController],
      // OrderRoomRules is found by the module's discovery of @WsTicketRoom methods: a provider
      // anywhere in the app will do.
      providers: [shares, OrdersService, OrderRoomRules],
    };
  }
}
