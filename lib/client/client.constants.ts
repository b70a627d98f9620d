/** Default time limit of one ticket request (`getToken`, the request and its body), in milliseconds. */
export const DEFAULT_TICKET_REQUEST_TIMEOUT = 10_000;

/** Largest ticket response body the client reads, in bytes (a ticket answer is about 70). */
export const MAX_TICKET_RESPONSE_BYTES = 4096;

/** Shortest wait a `Retry-After` can ask for, in seconds: smaller values (`0.001`, `0`) are raised. */
export const MIN_TICKET_RETRY_AFTER = 1;

/** Longest wait a `Retry-After` can ask for, in seconds: larger values are lowered. */
export const MAX_TICKET_RETRY_AFTER = 300;

/** Default reconnection backoff of `attachTicketAuth`, in milliseconds. */
export const DEFAULT_TICKET_RETRY_DELAY = { min: 500, max: 10_000 } as const;

/** Floor of every reconnection delay, in milliseconds: a smaller `retryDelay.min` is raised to it. */
export const MIN_TICKET_RETRY_DELAY = 100;

/** Longest delay a timer can take (2^31 − 1 ms, about 24.8 days); longer ones fire at once. Internal. */
export const MAX_TIMER_DELAY = 2_147_483_647;

/**
 * The server's `WS_TICKET_EXPIRING_EVENT`, repeated here (the client imports nothing): the session
 * ends at `expiresAt` unless refreshed. Internal.
 */
export const TICKET_EXPIRING_EVENT = 'ws-ticket:expiring';

/**
 * The server's `WS_TICKET_REFRESH_EVENT`, repeated here: the client sends a fresh ticket with it,
 * and the server's answer carries the same name. Internal.
 */
export const TICKET_REFRESH_EVENT = 'ws-ticket:refresh';

/**
 * Longest text frame the raw WebSocket refresh helper parses, in UTF-16 code units: the module's
 * frames are under 200; longer frames are the app's and are not even parsed. Internal.
 */
export const MAX_REFRESH_FRAME_LENGTH = 4096;
