export * from './ws-ticket-events.js';
export * from './ws-ticket-metrics.js';
export * from './ws-ticket-telemetry.js';
