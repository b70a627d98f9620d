/** Where the refusal log writes: Nest's `Logger` fits. */
export interface RefusalLogger {
  warn(message: string): void;
}

/** How long one summary window lasts, in milliseconds. */
export const REFUSAL_LOG_WINDOW = 60_000;

/**
 * Logs refusals without letting a flood flood the log: per kind (a refusal code, or any other
 * short key), the first occurrence in each window is logged at once; later ones in the same window
 * are only counted, and one summary line per kind closes the window when any were held back. So a
 * flood costs at most two lines per kind per window, and a lone refusal is still seen right away.
 * Lines never carry tickets, tokens or request data: only the fixed texts the module passes.
 */
export class RefusalLog {
  /** Held-back counts by kind. */
  private readonly held = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: RefusalLogger,
    private readonly window = REFUSAL_LOG_WINDOW,
  ) {}

  /**
   * Records one occurrence of `kind` (a fixed text such as `WebSocket ticket refused: ticket_invalid`).
   * `detail` (an error message, never request data) is logged with the first occurrence only.
   */
  record(kind: string, detail?: string): void {
    const count = this.held.get(kind);
    if (count !== undefined) {
      this.held.set(kind, count + 1);
      return;
    }
    this.held.set(kind, 0);
    this.logger.warn(detail === undefined ? kind : `${kind}: ${detail}`);
    this.timer ??= setTimeout(() => this.flush(), this.window).unref();
  }

  /** Kinds seen in the current window (for tests: the log's own memory stays this small). */
  get size(): number {
    return this.held.size;
  }

  /** Ends the window now: logs the held-back counts and forgets them. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const seconds = Math.round(this.window / 1000);
    for (const [kind, count] of this.held) {
      if (count > 0) this.logger.warn(`${kind}: ${count} more in the last ${seconds} s`);
    }
    this.held.clear();
  }
}
