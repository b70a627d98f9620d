import { WS_TICKET_REFRESH_LIMIT } from '../ws-ticket.constants.js';
import { WsTicketErrorCode } from '../ws-ticket.errors.js';
import type { WsTicketRefreshAck } from '../ws-ticket-session.js';

/** The window {@link WS_TICKET_REFRESH_LIMIT} counts in, milliseconds. */
const REFRESH_LIMIT_WINDOW = 60_000;

const RATE_LIMITED: WsTicketRefreshAck = { ok: false, code: WsTicketErrorCode.RATE_LIMITED };

/**
 * What one connection may ask of session refresh. Refreshes run one at a time, in order, so that
 * two never race to set the session and their answers come in the order they were asked (what a
 * raw WebSocket client, without request ids, needs). After {@link WS_TICKET_REFRESH_LIMIT} refused
 * refreshes in a minute the next are answered `rate_limited` without being tried, so a client
 * cannot hammer the store or the user backend with bad tickets; successful ones are not counted
 * (each spent a fresh ticket, which the issuance limit already counts), so that short-lived JWTs
 * can be refreshed as often as they need. At most {@link WS_TICKET_REFRESH_LIMIT} refreshes wait:
 * beyond that (a client flooding the connection) they are answered `rate_limited` at once. The
 * state is bounded: the times of the last refusals, one promise chain and a count.
 */
export class RefreshGate {
  /** `performance.now()` of the refusals of the last minute, oldest first. */
  private readonly refusals: number[] = [];
  private queue: Promise<void> = Promise.resolve();
  /** Refreshes waiting or running. */
  private pending = 0;

  /**
   * Runs `attempt` in its turn and sends its answer (none when it resolves `undefined`: the
   * connection closed meanwhile); `limited` is called for each refresh refused unread.
   * `attempt` must not reject.
   */
  submit(
    attempt: () => Promise<WsTicketRefreshAck | undefined>,
    send: (ack: WsTicketRefreshAck) => void,
    limited: () => void,
  ): void {
    if (this.pending >= WS_TICKET_REFRESH_LIMIT) {
      limited();
      send(RATE_LIMITED);
      return;
    }
    this.pending++;
    this.queue = this.queue
      .then(async () => {
        if (this.isLimited(performance.now())) {
          limited();
          send(RATE_LIMITED);
          return;
        }
        const ack = await attempt();
        if (ack === undefined) return;
        if (!ack.ok) this.refused(performance.now());
        send(ack);
      })
      .catch(() => undefined)
      .finally(() => {
        this.pending--;
      });
  }

  /** Refusals counted now (for tests: never above the limit). */
  get size(): number {
    this.prune(performance.now());
    return this.refusals.length;
  }

  private isLimited(now: number): boolean {
    this.prune(now);
    return this.refusals.length >= WS_TICKET_REFRESH_LIMIT;
  }

  private refused(now: number): void {
    this.prune(now);
    if (this.refusals.length < WS_TICKET_REFRESH_LIMIT) this.refusals.push(now);
  }

  private prune(now: number): void {
    while (this.refusals.length > 0 && now - (this.refusals[0] as number) >= REFRESH_LIMIT_WINDOW) {
      this.refusals.shift();
    }
  }
}
