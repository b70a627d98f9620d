import { type FactoryProvider, Logger } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { moduleProviding } from '../internal/modules.js';
import { received } from '../internal/options.js';
import { WS_TICKET_LOGGER_CONTEXT } from '../ws-ticket.constants.js';
import { WS_TICKET_MODULE_OPTIONS } from '../ws-ticket.module-definition.js';
import type { WsTicketModuleOptions } from '../ws-ticket.options.js';
import { type TicketStoreCache, ticketStoreFromCache } from './cache-ticket-store.factory.js';
import { TicketStore } from './ticket-store.js';

/**
 * The value of `@nestjs/cache-manager`'s `CACHE_MANAGER` token. Injected by value so that the
 * package (with `cache-manager` and `keyv`) stays an optional peer: nothing here imports it.
 */
const CACHE_MANAGER = 'CACHE_MANAGER';

/**
 * The module's {@link TicketStore}: the `store` option, else one chosen from the app's CacheModule
 * ({@link ticketStoreFromCache}). Internal to the module.
 */
export const ticketStoreProvider: FactoryProvider<TicketStore> = {
  provide: TicketStore,
  useFactory: (
    options: WsTicketModuleOptions,
    modules: ModulesContainer,
    cache?: TicketStoreCache,
  ) => {
    const given: unknown = options.store;
    if (
      given !== undefined &&
      !(['put', 'take'] as const).every(
        (name) => typeof (given as Partial<TicketStore> | null)?.[name] === 'function',
      )
    ) {
      throw new Error(
        `WsTicketModule: \`store\` must be a TicketStore, e.g. new RedisTicketStore({ url }) or new MemoryTicketStore(); received ${received(given, true)}.`,
      );
    }
    const store = options.store ?? ticketStoreFromCache(cache);
    const logger = new Logger(WS_TICKET_LOGGER_CONTEXT);
    if (!options.store && !cache) {
      const providing = moduleProviding(modules, CACHE_MANAGER);
      if (providing) {
        const hidden = providing.metatype?.name ?? 'a module';
        // Not the memory store by choice: the app's cache is out of this module's sight.
        logger.warn(
          `Ticket store: ${store.constructor.name} (process memory), although the app registers a CacheModule (in ${hidden}): WsTicketModule cannot see it. Fix: CacheModule.register({ isGlobal: true }) (or registerAsync), import the CacheModule in forRootAsync({ imports: [CacheModule.register(…)], useFactory }), or pass \`store:\` (a RedisTicketStore) to WsTicketModule.`,
        );
        return store;
      }
    }
    // Say which store won: the CacheModule, the option, or none to be seen.
    const source = options.store
      ? 'the `store` option'
      : cache
        ? 'the CacheModule'
        : 'no CacheModule';
    logger.log(`Ticket store: ${store.constructor.name} (${source})`);
    return store;
  },
  inject: [WS_TICKET_MODULE_OPTIONS, ModulesContainer, { token: CACHE_MANAGER, optional: true }],
};
