import { withTimeout } from '../internal/with-timeout.js';
import { WsTicketError, WsTicketErrorCode } from '../ws-ticket.errors.js';
import type {
  WsTicketClaims,
  WsTicketOriginCheck,
  WsTicketResolveUser,
} from '../ws-ticket.options.js';
import type { RefusalLog } from './refusal-log.js';

/** An app callback did not answer within its time limit. */
class CallbackTimeout extends Error {
  constructor(readonly callback: string) {
    super(`${callback} timed out`);
  }
}

/**
 * The app's own code the module waits on (`resolveUser`, an `allowedOrigins` function), each call
 * bounded by `callbackTimeout`: a slow backend answers `store_unavailable` (retried by clients)
 * instead of holding a request or a handshake open.
 */
export class AppCallbacks<TUser> {
  private readonly resolveUserHook: WsTicketResolveUser<TUser>;

  constructor(
    resolveUser: WsTicketResolveUser<TUser> | undefined,
    private readonly timeout: number,
    private readonly log: RefusalLog,
  ) {
    this.resolveUserHook = resolveUser ?? ((claims) => claims as unknown as TUser);
  }

  /**
   * The user behind claims, or `undefined` when refused (`undefined`, `null`, `false`, or a throw,
   * logged without its arguments).
   * @throws WsTicketError `store_unavailable` when the hook timed out or threw it
   */
  async resolveUser(claims: WsTicketClaims): Promise<TUser | undefined> {
    let user: TUser | null | undefined | false;
    try {
      user = await this.call('resolveUser', () => this.resolveUserHook(claims));
    } catch (error) {
      // A backend that is down is no refusal: clients retry store_unavailable, never user_rejected.
      if (error instanceof WsTicketError && error.code === WsTicketErrorCode.STORE_UNAVAILABLE) {
        throw error;
      }
      this.log.record('resolveUser threw', (error as Error)?.message ?? String(error));
      return undefined;
    }
    return user === undefined || user === null || user === false ? undefined : user;
  }

  /**
   * Whether an `allowedOrigins` function admits `origin` (a throw is a no, and logged).
   * @throws WsTicketError `store_unavailable` when the function timed out
   */
  async originAllowed(check: WsTicketOriginCheck, origin: string | undefined): Promise<boolean> {
    try {
      return (await this.call('allowedOrigins', () => check(origin))) === true;
    } catch (error) {
      if (error instanceof WsTicketError) throw error;
      this.log.record('allowedOrigins threw', (error as Error)?.message ?? String(error));
      return false;
    }
  }

  private async call<T>(name: string, call: () => T | PromiseLike<T>): Promise<T> {
    try {
      return await withTimeout(call, this.timeout, () => new CallbackTimeout(name));
    } catch (error) {
      if (!(error instanceof CallbackTimeout)) throw error;
      this.log.record(
        `${name} did not answer within ${this.timeout} ms (answered store_unavailable)`,
      );
      throw new WsTicketError(WsTicketErrorCode.STORE_UNAVAILABLE, { cause: error });
    }
  }
}
