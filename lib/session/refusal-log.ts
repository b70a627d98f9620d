import { Logger } from '@nestjs/common';
import { maskCredentials } from '../internal/mask-credentials.js';
import { WS_TICKET_LOGGER_CONTEXT } from '../ws-ticket.constants.js';
import { WsTicketError, WsTicketErrorCode } from '../ws-ticket.errors.js';

/** Where the refusal log writes: Nest's `Logger` fits. */
export interface RefusalLogger {
  warn(message: string): void;
  /** Where the first line of a failure goes, with its stack; without it, `warn` gets both. */
  error?(message: string, stack?: string): void;
}

/** How long one summary window lasts, in milliseconds. */
export const REFUSAL_LOG_WINDOW = 60_000;

/**
 * Logs refusals without letting a flood flood the log: per kind (a refusal code, or any other
 * short key), the first occurrence in each window is logged at once; later ones in the same window
 * are only counted, and one summary line per kind closes the window when any were held back. So a
 * flood costs at most two lines per kind per window, and a lone refusal is still seen right away.
 * Lines never carry tickets, tokens or request data: only the fixed texts the module passes, and
 * the messages and stacks of errors thrown by the app's or a backend's code.
 */
export class RefusalLog {
  /** Held-back counts by kind. */
  private readonly held = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: RefusalLogger = new Logger(WS_TICKET_LOGGER_CONTEXT),
    private readonly window = REFUSAL_LOG_WINDOW,
  ) {}

  /**
   * Records one occurrence of `kind` (a fixed text such as `WebSocket ticket refused: ticket_invalid`).
   * `detail` (an error message, never request data) is logged with the first occurrence only.
   */
  record(kind: string, detail?: string): void {
    if (this.first(kind)) this.logger.warn(detail === undefined ? kind : `${kind}: ${detail}`);
  }

  /**
   * Records one occurrence of `kind` with the message of `error` (masked for URL credentials: a
   * driver's message may quote a connection URL) as its detail.
   */
  recordMessage(kind: string, error: unknown): void {
    this.record(kind, maskCredentials(messageOf(error)));
  }

  /** Records the code of a `WsTicketError` that `work` rejects with (`${what}: ${code}`), and passes it on. */
  async passing<T>(work: Promise<T>, what: string): Promise<T> {
    try {
      return await work;
    } catch (error) {
      if (error instanceof WsTicketError) this.record(`${what}: ${error.code}`);
      throw error;
    }
  }

  /**
   * Records one failure of `kind` (a fixed text such as `resolveUser threw`): the first occurrence
   * in the window is logged as an error with the error's message and stack, where anything shaped
   * like URL credentials is masked; later ones are counted as {@link record} counts them.
   */
  recordFailure(kind: string, error: unknown): void {
    if (!this.first(kind)) return;
    const line = `${kind}: ${maskCredentials(messageOf(error))}`;
    const stack =
      error instanceof Error && typeof error.stack === 'string'
        ? maskCredentials(error.stack)
        : undefined;
    if (!this.logger.error) this.logger.warn(stack === undefined ? line : `${line}\n${stack}`);
    else if (stack === undefined) this.logger.error(line);
    else this.logger.error(line, stack);
  }

  /**
   * Refusal is a value, failure is an exception: a `WsTicketError` (a refusal, or a failure coded
   * already) passes as is; anything else is recorded as a failure of `kind` and answered
   * `store_unavailable`, which clients retry, so that its text never reaches a client.
   */
  coded(kind: string, error: unknown): WsTicketError {
    if (error instanceof WsTicketError) return error;
    this.recordFailure(kind, error);
    return new WsTicketError(WsTicketErrorCode.STORE_UNAVAILABLE, { cause: error });
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

  /** Counts one occurrence of `kind`; true when it is the first of the window (to be logged). */
  private first(kind: string): boolean {
    const count = this.held.get(kind);
    if (count !== undefined) {
      this.held.set(kind, count + 1);
      return false;
    }
    this.held.set(kind, 0);
    this.timer ??= setTimeout(() => this.flush(), this.window).unref();
    return true;
  }
}

/** An error's message, whatever was thrown (a log line must not throw in turn). */
function messageOf(error: unknown): string {
  try {
    const message = (error as { message?: unknown } | null | undefined)?.message;
    return typeof message === 'string' ? message : String(error);
  } catch {
    return typeof error;
  }
}
