import { type DynamicModule, Module } from '@nestjs/common';
import { TicketStore } from './stores/ticket-store.js';
import { ticketStoreProvider } from './stores/ticket-store.provider.js';
import { DEFAULT_TICKET_PATH } from './ws-ticket.constants.js';
import { createWsTicketController } from './ws-ticket.controller.js';
import { WsTicketGuard } from './ws-ticket.guard.js';
import { ConfigurableModuleClass } from './ws-ticket.module-definition.js';
import type {
  WsTicketModuleAsyncOptions,
  WsTicketModuleExtras,
  WsTicketModuleRootOptions,
} from './ws-ticket.options.js';
import { WsTicketService } from './ws-ticket.service.js';

/**
 * Short-lived, single-use WebSocket tickets.
 *
 * ```ts
 * WsTicketModule.forRoot({ jwt: { secret }, resolveUser: (claims) => users.findActive(claims.sub) })
 * ```
 * Then `app.useWebSocketAdapter(new WsTicketIoAdapter(app))` and `@UseGuards(WsTicketGuard)`.
 */
@Module({
  providers: [WsTicketService, WsTicketGuard, ticketStoreProvider],
  exports: [WsTicketService, WsTicketGuard, TicketStore],
})
export class WsTicketModule extends ConfigurableModuleClass {
  /** Registers the module with static options (and extras such as `isGlobal` beside them). */
  static override forRoot<TUser = unknown>(
    options: WsTicketModuleRootOptions<TUser>,
  ): DynamicModule {
    return withController(super.forRoot(options as WsTicketModuleRootOptions), options);
  }

  /**
   * Registers the module with options built at startup (`useFactory`, `useClass`, `useExisting`);
   * the static extras go beside it, not in what the factory returns.
   */
  static override forRootAsync<TUser = unknown>(
    options: WsTicketModuleAsyncOptions<TUser>,
  ): DynamicModule {
    return withController(super.forRootAsync(options as WsTicketModuleAsyncOptions), options);
  }
}

function withController(module: DynamicModule, extras: WsTicketModuleExtras): DynamicModule {
  if (extras.controller === false) return module;
  const controller = createWsTicketController(
    extras.path ?? DEFAULT_TICKET_PATH,
    extras.controllerDecorators ?? [],
  );
  return { ...module, controllers: [...(module.controllers ?? []), controller] };
}
