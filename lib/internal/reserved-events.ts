import { Logger } from '@nestjs/common';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { WS_TICKET_LOGGER_CONTEXT } from '../ws-ticket.constants.js';
import { WS_TICKET_EVENT_PREFIX } from '../ws-ticket-session.js';

/**
 * A gateway's message handlers without those of the module's own events (`ws-ticket:*`), which the
 * adapters handle before any handler could see them; each such handler is named once in a warning.
 */
export function withoutReserved(
  handlers: MessageMappingProperties[],
  warned: Set<string>,
): MessageMappingProperties[] {
  return handlers.filter(({ message }) => {
    if (typeof message !== 'string' || !message.startsWith(WS_TICKET_EVENT_PREFIX)) return true;
    if (!warned.has(message)) {
      warned.add(message);
      new Logger(WS_TICKET_LOGGER_CONTEXT).warn(
        `@SubscribeMessage('${message}') is never called: events named ${WS_TICKET_EVENT_PREFIX}* ` +
          'are handled by nestjs-ws-ticket. Rename the event.',
      );
    }
    return false;
  });
}
