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
 * bounded by `callbackTimeout`. Refusal is a value, failure is an exception: a hook that answers
 * no refuses, a hook that throws or is too slow failed, which answers `store_unavailable` (retried
 * by clients) instead of a refusal that logs users out, or a request held open.
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
   * The user behind claims, or `undefined` when refused (`undefined`, `null`, `false`, or a thrown
   * `WsTicketError('user_rejected')`).
   * @throws WsTicketError `store_unavailable` when the hook timed out or threw anything but a
   *   `WsTicketError` (logged once a minute with its stack, never its arguments), or the
   *   `WsTicketError` it threw
   */
  async resolveUser(claims: WsTicketClaims): Promise<TUser | undefined> {
    let user: TUser | null | undefined | false;
    try {
      user = await this.call('resolveUser', () => this.resolveUserHook(claims));
    } catch (error) {
      // Thrown to refuse: the same answer as returning null (401 at the endpoint, not 503).
      if (error instanceof WsTicketError && error.code === WsTicketErrorCode.USER_REJECTED) {
        return undefined;
      }
      // A backend that is down is no refusal: clients retry store_unavailable, never user_rejected.
      throw this.log.coded('resolveUser threw', error);
    }
    return user === undefined || user === null || user === false ? undefined : user;
  }

  /**
   * Whether an `allowedOrigins` function admits `origin`.
   * @throws WsTicketError `store_unavailable` when the function timed out or threw anything but a
   *   `WsTicketError` (logged once a minute with its stack), or the `WsTicketError` it threw
   */
  async originAllowed(check: WsTicketOriginCheck, origin: string | undefined): Promise<boolean> {
    try {
      return (await this.call('allowedOrigins', () => check(origin))) === true;
    } catch (error) {
      throw this.log.coded('allowedOrigins threw', error);
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
