export * from './ticket-http-answer.js';
