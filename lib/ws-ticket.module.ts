import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { WsTicketBearerVerifier } from './bearer/bearer.verifier.js';
import { AdapterCheck } from './internal/adapter-check.js';
import { checkOptionKeys, type OptionsSource } from './internal/option-keys.js';
import { WsTicketRooms } from './rooms/ws-ticket-rooms.js';
import { TicketStore } from './stores/ticket-store.js';
import { ticketStoreProvider } from './stores/ticket-store.provider.js';
import { telemetryProvider } from './telemetry/telemetry.provider.js';
import { DEFAULT_TICKET_PATH } from './ws-ticket.constants.js';
import { createWsTicketController } from './ws-ticket.controller.js';
import { WsTicketGuard } from './ws-ticket.guard.js';
import {
  ConfigurableModuleClass,
  WS_TICKET_MODULE_OPTIONS,
} from './ws-ticket.module-definition.js';
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
 *
 * The providers come with `forRoot()` / `forRootAsync()` only, so that a feature module's
 * `imports: [WsTicketModule]` (the bare class) adds nothing: the guard there is served by the
 * global module.
 */
@Module({})
export class WsTicketModule extends ConfigurableModuleClass {
  /** Registers the module with static options (and extras such as `isGlobal` beside them). */
  static override forRoot<TUser = unknown>(
    options: WsTicketModuleRootOptions<TUser>,
  ): DynamicModule {
    return assemble(super.forRoot(options as WsTicketModuleRootOptions), options, 'forRoot');
  }

  /**
   * Registers the module with options built at startup (`useFactory`, `useClass`, `useExisting`);
   * the static extras go beside it, not in what the factory returns.
   */
  static override forRootAsync<TUser = unknown>(
    options: WsTicketModuleAsyncOptions<TUser>,
  ): DynamicModule {
    return assemble(super.forRootAsync(options as WsTicketModuleAsyncOptions), options, 'factory');
  }
}

function assemble(
  module: DynamicModule,
  extras: WsTicketModuleExtras,
  source: OptionsSource,
): DynamicModule {
  const providers = (module.providers ?? []).map((provider) =>
    checkedOptions(provider, source, extras),
  );
  const assembled: DynamicModule = {
    ...module,
    // Finds the @WsTicketRoom() methods of the app's providers.
    imports: [...(module.imports ?? []), DiscoveryModule],
    providers: [
      ...providers,
      WsTicketBearerVerifier,
      WsTicketService,
      WsTicketGuard,
      WsTicketRooms,
      ticketStoreProvider,
      telemetryProvider,
      AdapterCheck,
    ],
    exports: [
      ...(module.exports ?? []),
      WsTicketBearerVerifier,
      WsTicketService,
      WsTicketGuard,
      WsTicketRooms,
      TicketStore,
    ],
  };
  if (extras.controller === false) return assembled;
  const controller = createWsTicketController(
    extras.path ?? DEFAULT_TICKET_PATH,
    extras.controllerDecorators ?? [],
  );
  return { ...assembled, controllers: [...(module.controllers ?? []), controller] };
}

/**
 * The options provider, checking the keys of what it provides when the app starts (a typo, a
 * static extra returned by a factory): forRoot's own options, or what the factory returned.
 */
function checkedOptions(provider: Provider, source: OptionsSource, root: object): Provider {
  if (typeof provider !== 'object' || provider.provide !== WS_TICKET_MODULE_OPTIONS) {
    return provider;
  }
  if ('useValue' in provider) {
    const value: unknown = provider.useValue;
    return {
      provide: WS_TICKET_MODULE_OPTIONS,
      useFactory: () => {
        checkOptionKeys(root, 'forRoot');
        return value;
      },
    };
  }
  if ('useFactory' in provider) {
    const factory = provider.useFactory;
    return {
      ...provider,
      useFactory: async (...args: unknown[]) => {
        const options: unknown = await factory(...args);
        checkOptionKeys(options, source);
        return options;
      },
    };
  }
  return provider;
}
