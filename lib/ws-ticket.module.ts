import { CACHE_MANAGER } from '@nestjs/cache-manager';
import { type DynamicModule, Logger, Module } from '@nestjs/common';
import type { Cache } from 'cache-manager';
import { ticketStoreFromCache } from './stores/cache-ticket-store.factory.js';
import { TicketStore } from './stores/ticket-store.js';
import { DEFAULT_TICKET_PATH, WS_TICKET_LOGGER_CONTEXT } from './ws-ticket.constants.js';
import { createWsTicketController } from './ws-ticket.controller.js';
import { WsTicketGuard } from './ws-ticket.guard.js';
import {
  ConfigurableModuleClass,
  WS_TICKET_MODULE_OPTIONS,
} from './ws-ticket.module-definition.js';
import type {
  WsTicketModuleAsyncOptions,
  WsTicketModuleExtras,
  WsTicketModuleOptions,
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
  providers: [
    WsTicketService,
    WsTicketGuard,
    {
      provide: TicketStore,
      useFactory: (options: WsTicketModuleOptions, cache?: Cache) => {
        const store = options.store ?? ticketStoreFromCache(cache);
        // Say which store won: a CacheModule this module cannot see silently means process memory.
        const source = options.store
          ? 'the `store` option'
          : cache
            ? 'the CacheModule'
            : 'no CacheModule';
        new Logger(WS_TICKET_LOGGER_CONTEXT).log(
          `Ticket store: ${store.constructor.name} (${source})`,
        );
        return store;
      },
      inject: [WS_TICKET_MODULE_OPTIONS, { token: CACHE_MANAGER, optional: true }],
    },
  ],
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
