export * from './bearer/index.js';
export * from './client/index.js';
export * from './rooms/index.js';
export type { WsTicketSession, WsTicketSessionStamp } from './session/index.js';
export { WsTicketConnections } from './session/ws-ticket-connections.js';
export * from './stores/index.js';
export * from './telemetry/index.js';
// The raw ws adapter is at `nestjs-ws-ticket/ws` (ws and @nestjs/platform-ws are optional peers);
// its wire tables import neither, so they stay here too.
export {
  WS_TICKET_CLOSE_CODES,
  WS_TICKET_PROTOCOL,
  WS_TICKET_PROTOCOL_PREFIX,
  WS_TICKET_REFUSAL_STATUS,
} from './ws/ws-ticket-ws.protocol.js';
export * from './ws-ticket.constants.js';
export * from './ws-ticket.controller.js';
export * from './ws-ticket.errors.js';
export * from './ws-ticket.guard.js';
export * from './ws-ticket.module.js';
export { WS_TICKET_MODULE_OPTIONS } from './ws-ticket.module-definition.js';
export * from './ws-ticket.options.js';
export * from './ws-ticket.service.js';
export type * from './ws-ticket.types.js';
export * from './ws-ticket-exception.filter.js';
export * from './ws-ticket-io.adapter.js';
export * from './ws-ticket-session.js';
export * from './ws-user.decorator.js';
