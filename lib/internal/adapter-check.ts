import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { ApplicationConfig, ModulesContainer } from '@nestjs/core';
import { WS_TICKET_LOGGER_CONTEXT } from '../ws-ticket.constants.js';
import { WS_TICKET_MODULE_OPTIONS } from '../ws-ticket.module-definition.js';
import type { WsTicketModuleOptions } from '../ws-ticket.options.js';
import { flag } from './options.js';
import { isTicketAdapter } from './require-service.js';

/** `@WebSocketGateway()`'s marker (`GATEWAY_METADATA` of `@nestjs/websockets`). */
const GATEWAY_METADATA = 'websockets:is_gateway';

/**
 * Warns once at bootstrap when the app has gateways but its WebSocket adapter is no ticket adapter:
 * connections are then not authenticated, and with Nest's raw `WsAdapter` the guard cannot read a
 * ticket at all. Internal to the module.
 */
@Injectable()
export class AdapterCheck implements OnApplicationBootstrap {
  private readonly guardOnly: boolean;

  constructor(
    @Inject(WS_TICKET_MODULE_OPTIONS) options: WsTicketModuleOptions,
    private readonly config: ApplicationConfig,
    private readonly modules: ModulesContainer,
  ) {
    this.guardOnly = flag(options.guardOnly, 'guardOnly') ?? false;
  }

  onApplicationBootstrap(): void {
    // Nest has set the adapter by now: the app's own, or a plain IoAdapter for gateways.
    const adapter = this.config.getIoAdapter();
    if (!adapter || isTicketAdapter(adapter) || !this.hasGateways()) return;
    const logger = new Logger(WS_TICKET_LOGGER_CONTEXT);
    if (extendsClass(adapter, 'WsAdapter')) {
      logger.warn(
        `Gateways run on Nest's WsAdapter, which gives WsTicketGuard no upgrade request: every guarded message is refused with ticket_missing ("No WebSocket ticket was sent") even when a ticket was sent, and any client can connect. Fix: app.useWebSocketAdapter(new WsTicketWsAdapter(app)), with WsTicketWsAdapter from 'nestjs-ws-ticket/ws' (\`guardOnly\` cannot help here).`,
      );
      return;
    }
    if (this.guardOnly) return;
    logger.warn(
      `Gateways run on ${adapter.constructor.name}, not on a ticket adapter: any client can connect, only handlers under @UseGuards(WsTicketGuard) check tickets, there is no session expiry, and disconnectUser() closes only sockets the guard admitted. Fix: app.useWebSocketAdapter(new WsTicketIoAdapter(app)); if guard-only is deliberate, set \`guardOnly: true\` in WsTicketModule.forRoot().`,
    );
  }

  private hasGateways(): boolean {
    for (const module of this.modules.values()) {
      for (const wrapper of module.providers.values()) {
        const type = wrapper.metatype;
        if (typeof type === 'function' && Reflect.getMetadata(GATEWAY_METADATA, type)) return true;
      }
    }
    return false;
  }
}

/** Whether an object's class is, or extends, a class of that name (no import of its package). */
function extendsClass(object: object, name: string): boolean {
  for (let proto = Object.getPrototypeOf(object); proto; proto = Object.getPrototypeOf(proto)) {
    if (proto.constructor?.name === name) return true;
  }
  return false;
}
