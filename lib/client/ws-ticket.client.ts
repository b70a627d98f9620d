/*
 * Browser and Node helper: socket.io-client integration, one hardened ticket request for raw
 * WebSocket clients, and live session refresh for both. No Nest, no Node built-ins: it only needs
 * `fetch`. Import it from `nestjs-ws-ticket/client`. Browsers load these files as they are: every
 * import stays relative.
 */
export {
  DEFAULT_TICKET_REQUEST_TIMEOUT,
  DEFAULT_TICKET_RETRY_DELAY,
  MAX_TICKET_RESPONSE_BYTES,
  MAX_TICKET_RETRY_AFTER,
  MIN_TICKET_RETRY_AFTER,
  MIN_TICKET_RETRY_DELAY,
} from './client.constants.js';
export * from './ticket-auth.js';
export {
  TICKET_REFRESH_FAILED,
  TICKET_REQUEST_FAILED,
  TICKET_REQUEST_FATAL_CODES,
  TICKET_REQUEST_REJECTED,
  TICKET_REQUEST_UNAUTHORIZED,
  TICKET_URL_INVALID,
  type TicketClientEvent,
  TicketRequestFailure,
  type TicketRequestFailureCode,
  type TicketRequestFailureInit,
  WS_TICKET_FATAL_CODES,
} from './ticket-failure.js';
export {
  type AttachTicketRefreshOptions,
  attachTicketRefresh,
  type TicketRefreshEvent,
  type TicketRefreshHandle,
  type TicketRefreshSocket,
} from './ticket-refresh.js';
export {
  fetchTicket,
  type TicketGrant,
  type TicketRequestInit,
  type TicketRequestOptions,
  ticketProtocols,
} from './ticket-request.js';
