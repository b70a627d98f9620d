import { type FactoryProvider, Logger } from '@nestjs/common';
import { flag } from '../internal/options.js';
import { WS_TICKET_LOGGER_CONTEXT } from '../ws-ticket.constants.js';
import { WS_TICKET_MODULE_OPTIONS } from '../ws-ticket.module-definition.js';
import type { WsTicketModuleOptions } from '../ws-ticket.options.js';
import { loadOpenTelemetry, openTelemetryRecorder } from './open-telemetry.js';
import { WsTicketTelemetry } from './ws-ticket-telemetry.js';

/**
 * The module's {@link WsTicketTelemetry}, with the OpenTelemetry recorder as `openTelemetry` and the
 * installed packages decide. Internal to the module.
 */
export const telemetryProvider: FactoryProvider<WsTicketTelemetry> = {
  provide: WsTicketTelemetry,
  useFactory: (options: WsTicketModuleOptions) => createTelemetry(options.openTelemetry),
  inject: [WS_TICKET_MODULE_OPTIONS],
};

/**
 * @throws Error at startup when `openTelemetry` is no boolean, or `true` without
 *   `@opentelemetry/api` installed
 */
export async function createTelemetry(openTelemetry: unknown): Promise<WsTicketTelemetry> {
  const wanted = flag(openTelemetry, 'openTelemetry');
  if (wanted === false) return new WsTicketTelemetry();
  const api = await loadOpenTelemetry();
  if (api) {
    try {
      return new WsTicketTelemetry(openTelemetryRecorder(api));
    } catch (error) {
      // A broken tracer provider must not stop an app that did not ask for OpenTelemetry.
      if (wanted === true) throw error;
      new Logger(WS_TICKET_LOGGER_CONTEXT).error(
        `OpenTelemetry is off: its tracer could not be made (${error instanceof Error ? error.message : String(error)}). Set openTelemetry: false to silence this.`,
      );
      return new WsTicketTelemetry();
    }
  }
  if (wanted === true) {
    throw new Error(
      'WsTicketModule: `openTelemetry: true` needs the `@opentelemetry/api` package: npm install @opentelemetry/api (and an OpenTelemetry SDK to export what it records), or leave `openTelemetry` unset.',
    );
  }
  return new WsTicketTelemetry();
}
