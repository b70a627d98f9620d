import { ConfigurableModuleBuilder } from '@nestjs/common';
import { DEFAULT_TICKET_PATH } from './ws-ticket.constants.js';
import type { WsTicketModuleExtras, WsTicketModuleOptions } from './ws-ticket.options.js';

export const {
  ConfigurableModuleClass,
  MODULE_OPTIONS_TOKEN: WS_TICKET_MODULE_OPTIONS,
  OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<WsTicketModuleOptions>({ moduleName: 'WsTicket' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createWsTicketOptions')
  .setExtras<Required<WsTicketModuleExtras>>(
    { isGlobal: true, path: DEFAULT_TICKET_PATH, controller: true, controllerDecorators: [] },
    (definition, extras) => ({ ...definition, global: extras.isGlobal }),
  )
  .build();
