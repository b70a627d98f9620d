import { positive } from '../internal/options.js';
import type { BoundedTicketStore } from '../stores/bounded-ticket-store.js';
import { WsTicketError, WsTicketErrorCode } from '../ws-ticket.errors.js';
import type { WsTicketIssueLimit } from '../ws-ticket.options.js';

/** The per-user issuance limit (`issueLimit`), counted in the ticket store. */
export class IssueLimit {
  private readonly limit: number;
  /** Window length, milliseconds. */
  private readonly window: number;

  constructor(
    options: WsTicketIssueLimit,
    private readonly store: BoundedTicketStore,
    private readonly onRefusal: () => void,
  ) {
    this.limit = positive(options.limit ?? 60, 'issueLimit.limit', 'tickets', 60);
    this.window = positive(options.window ?? 60, 'issueLimit.window', 'seconds', 60) * 1000;
  }

  /**
   * Counts one ticket for the user.
   * @throws WsTicketError `rate_limited` (with `retryAfter`, seconds) or `store_unavailable`
   */
  async check(userId: string): Promise<void> {
    const { count, resetIn } = await this.store.increment(userId, this.window);
    if (count > this.limit) {
      this.onRefusal();
      throw new WsTicketError(WsTicketErrorCode.RATE_LIMITED, {
        retryAfter: Math.max(1, Math.ceil(resetIn / 1000)),
      });
    }
  }
}
