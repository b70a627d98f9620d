import { type DynamicModule, Module } from '@nestjs/common';
import { TicketStore } from './stores/ticket-store.js';
import { ticketStoreProvider } from './stores/ticket-store.provider.js';
import { DEFAULT_TICKET_PATH } from './ws-ticket.constants.js';
import { createWsTicketController } from './ws-ticket.controller.js';
import { WsTicketGuard } from './ws-ticket.guard.js';
import {
  ASYNC_OPTIONS_TYPE,
  ConfigurableModuleClass,
  OPTIONS_TYPE,
} from './ws-ticket.module-definition.js';
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
  static override forRoot(options: typeof OPTIONS_TYPE): DynamicModule {
    return withController(super.forRoot(options), options);
  }

  static override forRootAsync(options: typeof ASYNC_OPTIONS_TYPE): DynamicModule {
    return withController(super.forRootAsync(options), options);
  }
}

function withController(
  module: DynamicModule,
  extras: { controller?: boolean; path?: string },
): DynamicModule {
  if (extras.controller === false) return module;
  const controller = createWsTicketController(extras.path ?? DEFAULT_TICKET_PATH);
  return { ...module, controllers: [...(module.controllers ?? []), controller] };
}
