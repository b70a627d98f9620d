export * from './bearer.errors.js';
export * from './bearer.options.js';
export * from './bearer.verifier.js';
