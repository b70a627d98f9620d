/*
 * The helpers' retry delays: reconnection after a refusal (`attachTicketAuth`) and session refresh
 * retries (both helpers). Internal: not re-exported by the package.
 */
import {
  DEFAULT_TICKET_RETRY_DELAY,
  MAX_TIMER_DELAY,
  MIN_TICKET_RETRY_DELAY,
} from './client.constants.js';

/** A `retryDelay` option, in milliseconds. */
export interface RetryDelayOption {
  min?: number | undefined;
  max?: number | undefined;
}

/** The next delay in milliseconds (a `Retry-After` in seconds wins when longer), and its reset. */
export interface Backoff {
  (retryAfter?: number): number;
  /** Starts over from `min` (after a success). */
  reset(): void;
}

/**
 * Exponential backoff with jitter between `min` and `max` (floored at `MIN_TICKET_RETRY_DELAY`,
 * capped at 2^31 − 1 ms); a `Retry-After` in seconds wins when it is longer.
 */
export function backoff(option: RetryDelayOption | undefined): Backoff {
  const bound = (value: number | undefined, fallback: number) =>
    Number.isNaN(value ?? fallback)
      ? fallback
      : Math.min(MAX_TIMER_DELAY, Math.max(MIN_TICKET_RETRY_DELAY, value ?? fallback));
  const min = bound(option?.min, DEFAULT_TICKET_RETRY_DELAY.min);
  const max = Math.max(min, bound(option?.max, DEFAULT_TICKET_RETRY_DELAY.max));
  let attempt = 0;
  const next = (retryAfter?: number) => {
    const ceiling = Math.min(max, min * 2 ** Math.min(attempt++, 31));
    const jittered = Math.max(MIN_TICKET_RETRY_DELAY, ceiling / 2 + Math.random() * (ceiling / 2));
    const asked = retryAfter === undefined ? 0 : retryAfter * 1000;
    return Math.min(MAX_TIMER_DELAY, Math.max(jittered, asked));
  };
  return Object.assign(next, {
    reset() {
      attempt = 0;
    },
  });
}
