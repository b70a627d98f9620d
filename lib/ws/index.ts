export { DEFAULT_WS_MAX_PAYLOAD } from '../ws-ticket.constants.js';
export * from './ws-ticket-ws.adapter.js';
