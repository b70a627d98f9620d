export * from './cache-ticket-store.factory.js';
export * from './memory-ticket.store.js';
export * from './redis-ticket.store.js';
export * from './ticket-store.js';
