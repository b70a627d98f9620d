export * from './ws-ticket.client.js';
