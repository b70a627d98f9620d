import { type FactoryProvider, Logger } from '@nestjs/common';
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
  useFactory: (options: WsTicketModuleOptions, cache?: TicketStoreCache) => {
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
    // Say which store won: a CacheModule this module cannot see silently means process memory.
    const source = options.store
      ? 'the `store` option'
      : cache
        ? 'the CacheModule'
        : 'no CacheModule';
    new Logger(WS_TICKET_LOGGER_CONTEXT).log(`Ticket store: ${store.constructor.name} (${source})`);
    return store;
  },
  inject: [WS_TICKET_MODULE_OPTIONS, { token: CACHE_MANAGER, optional: true }],
};
