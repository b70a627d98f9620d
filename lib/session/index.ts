export * from './connection-sessions.js';
export * from './refusal-log.js';
export * from './revocation.js';
export * from './revocations.js';
export * from './ticket-binding.js';
export * from './ticket-record.js';
export * from './user-connections.js';
export * from './ws-ticket-session.types.js';
