import { WS_TICKET_REFRESH_LIMIT } from '../ws-ticket.constants.js';

/** The window {@link WS_TICKET_REFRESH_LIMIT} counts in, milliseconds. */
const REFRESH_LIMIT_WINDOW = 60_000;

/**
 * What one connection may ask of session refresh: at most {@link WS_TICKET_REFRESH_LIMIT} attempts
 * in any minute (the next are refused before the store is touched), run one at a time in order, so
 * that two refreshes never race to set the session and their answers come in order. Its state is
 * bounded: the times of the last attempts, one promise chain of at most
 * {@link WS_TICKET_REFRESH_LIMIT} waiting tasks and a count.
 */
export class RefreshGate {
  /** `performance.now()` of the attempts of the last minute, oldest first. */
  private readonly attempts: number[] = [];
  private queue: Promise<void> = Promise.resolve();
  /** Tasks queued or running. */
  private pending = 0;

  /** Counts an attempt; false (counted nowhere) once the connection reached the limit. */
  allow(now = performance.now()): boolean {
    while (this.attempts.length > 0 && now - (this.attempts[0] as number) >= REFRESH_LIMIT_WINDOW) {
      this.attempts.shift();
    }
    if (this.attempts.length >= WS_TICKET_REFRESH_LIMIT) return false;
    this.attempts.push(now);
    return true;
  }

  /** Runs `task` after the connection's earlier refreshes settled. `task` handles its own errors. */
  run(task: () => Promise<void>): void {
    this.pending++;
    this.queue = this.queue
      .then(task)
      .catch(() => undefined)
      .finally(() => {
        this.pending--;
      });
  }

  /**
   * Sends a refusal that needs no work (`rate_limited`) in its place among the answers, so that a
   * client without request ids (raw WebSocket) reads them in the order it asked; once the queue
   * holds {@link WS_TICKET_REFRESH_LIMIT} tasks (a client flooding it), at once instead, so that
   * a flood queues nothing.
   */
  answer(send: () => void): void {
    if (this.pending >= WS_TICKET_REFRESH_LIMIT) send();
    else this.run(async () => send());
  }

  /** Attempts counted now (for tests: never above the limit). */
  get size(): number {
    return this.attempts.length;
  }
}
