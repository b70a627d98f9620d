export * from './connection-sessions.js';
export * from './refusal-log.js';
export * from './revocations.js';
export * from './user-connections.js';
export * from './ws-ticket-session.types.js';
