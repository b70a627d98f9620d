/*
 * Live session refresh, transport-neutral: when the server says `ws-ticket:expiring`, take a fresh
 * ticket and send it with `ws-ticket:refresh`; retry what a new attempt may fix, stop on what it
 * cannot. The Socket.IO helper (`attachTicketAuth`) and the raw WebSocket one
 * (`attachTicketRefresh`) each only say how a ticket is sent and its answer awaited. Internal: not
 * re-exported by the package.
 */
import { type Backoff, backoff, type RetryDelayOption } from './backoff.js';
import {
  asTicketRequestFailure,
  failureEvent,
  TICKET_REFRESH_FAILED,
  type TicketClientEvent,
  WS_TICKET_FATAL_CODES,
} from './ticket-failure.js';
import { type CheckedTicketRequest, requestTicket } from './ticket-request.js';

/** The options of a helper that the refresh reads. */
export interface RefreshCallbacks {
  retryDelay?: RetryDelayOption | undefined;
  onRefreshed?: ((expiresAt: number | null) => void) | undefined;
  onRefused?: ((event: TicketClientEvent) => void) | undefined;
}

/** What a transport gives a {@link SessionRefresher}. */
export interface RefreshTransport {
  /**
   * Sends a refresh with `uuid` and resolves the server's answer as it came. Rejects with
   * `signal.reason` once `signal` aborts (the time limit, a cancel); a later answer is ignored.
   */
  send(uuid: string, signal: AbortSignal): Promise<unknown>;
  /** Stops the helper and closes the connection, after a fatal outcome (reported right after). */
  stop(event: TicketClientEvent): void;
}

/** What one attempt came to. */
type Outcome =
  | { ok: true; expiresAt: number | null }
  | { ok: false; event: TicketClientEvent; retryAfter?: number | undefined };

/**
 * The refreshes of one connection: a socket.io-client Manager, whose namespace sockets share one
 * session on the server (a refresh on any of them extends them all), or a raw WebSocket. One
 * attempt at a time: a member that needs one while another is in flight waits for its outcome, and
 * a success reaches every member.
 */
export class RefreshGroup {
  readonly members = new Set<SessionRefresher>();
  private pending: Promise<Outcome | undefined> | undefined;
  /** The last success on the connection as it is: it covers every end before its `expiresAt`. */
  private last: { expiresAt: number | null } | undefined;

  /** Whether a success already moved the session's end past `endsAt`. */
  covers(endsAt: number): boolean {
    return (
      this.last !== undefined && (this.last.expiresAt === null || this.last.expiresAt > endsAt)
    );
  }

  /** A socket closed: what was refreshed before says nothing about the next connection. */
  forget(): void {
    this.last = undefined;
  }

  /**
   * The outcome of the attempt in flight, or of a new one made by `member`; `undefined` when
   * `signal` aborted first, or when the member that made it left (then ask again).
   */
  attempt(member: SessionRefresher, signal: AbortSignal): Promise<Outcome | undefined> {
    if (this.pending) return untilAborted(this.pending, signal);
    const run: Promise<Outcome | undefined> = member.attemptOnce(signal).then((outcome) => {
      // Cleared before `run` settles: a member that waited on it may start the next one at once.
      if (this.pending === run) this.pending = undefined;
      if (outcome?.ok) {
        this.last = { expiresAt: outcome.expiresAt };
        for (const each of this.members) each.refreshed(outcome.expiresAt);
      }
      return outcome;
    });
    this.pending = run;
    return run;
  }
}

const groups = new WeakMap<object, RefreshGroup>();

/** The group of the connection `key` stands for (a socket.io-client Manager, a raw WebSocket). */
export function refreshGroupOf(key: object): RefreshGroup {
  let group = groups.get(key);
  if (!group) {
    group = new RefreshGroup();
    groups.set(key, group);
  }
  return group;
}

/**
 * One socket's side of the refresh. On `expiring(expiresAt)` it starts a cycle: attempts (a ticket
 * request through the helper's options, then the transport's `send` under `requestTimeout`) until
 * one succeeds, one fails fatally, or the cycle is cancelled. Retryable failures are reported and
 * retried with the helper's backoff; the cycle ends when the socket closes, which is how the
 * session's end stops it: the server closes the socket at `expiresAt` (`session_expired`). No
 * retry relies on the client's clock, which may be off.
 */
export class SessionRefresher {
  private cycle: AbortController | undefined;
  /** The end the current cycle is for (server time, epoch ms). */
  private endsAt: number | undefined;
  /** Whether the socket is open: a group's success is reported only to open members. */
  private open = false;
  private readonly nextDelay: Backoff;

  constructor(
    private readonly group: RefreshGroup,
    private readonly checked: CheckedTicketRequest,
    private readonly options: RefreshCallbacks,
    private readonly transport: RefreshTransport,
  ) {
    this.nextDelay = backoff(options.retryDelay);
    group.members.add(this);
  }

  /** The socket is open. */
  opened(): void {
    this.open = true;
  }

  /** The server's `ws-ticket:expiring`: the session ends at `expiresAt` unless refreshed. */
  expiring(expiresAt: number): void {
    this.open = true;
    // Another socket of the connection refreshed it meanwhile, or a cycle for this end runs.
    if (this.group.covers(expiresAt) || (this.cycle && this.endsAt === expiresAt)) return;
    this.cancel();
    const cycle = new AbortController();
    this.cycle = cycle;
    this.endsAt = expiresAt;
    this.nextDelay.reset();
    this.run(cycle.signal).catch(rethrow);
  }

  /** A success in the group: the session now ends at `expiresAt`. */
  refreshed(expiresAt: number | null): void {
    if (!this.open) return;
    this.cancel();
    this.nextDelay.reset();
    call(this.options.onRefreshed, expiresAt);
  }

  /** The socket closed: a refresh in flight is dropped, and nothing is retried. */
  closed(): void {
    this.open = false;
    this.cancel();
    this.group.forget();
  }

  /** The helper is detached: nothing of this member runs any more. */
  dispose(): void {
    this.open = false;
    this.cancel();
    this.group.members.delete(this);
  }

  /** One attempt; `undefined` when `signal` aborted meanwhile (dropped: nothing to report). */
  async attemptOnce(signal: AbortSignal): Promise<Outcome | undefined> {
    let uuid: string;
    try {
      ({ uuid } = await requestTicket(this.checked, signal));
    } catch (error) {
      if (signal.aborted) return undefined;
      const failure = asTicketRequestFailure(error);
      return { ok: false, event: failureEvent(failure), retryAfter: failure.retryAfter };
    }
    if (signal.aborted) return undefined;
    const limit = new AbortController();
    const ms = this.checked.timeout;
    const timer = setTimeout(() => {
      limit.abort(new DOMException(`no refresh answer within ${ms} ms`, 'TimeoutError'));
    }, ms);
    const onAbort = () => limit.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const answer = await this.transport.send(uuid, limit.signal);
      return signal.aborted ? undefined : outcomeOf(answer);
    } catch (cause) {
      if (signal.aborted) return undefined;
      return { ok: false, event: { code: TICKET_REFRESH_FAILED, fatal: false, cause } };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  private async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const outcome = await this.group.attempt(this, signal);
      // A success was handed to every member by the group.
      if (signal.aborted || outcome?.ok) return;
      if (outcome === undefined) continue; // the member that made the attempt left: ask again
      if (outcome.event.fatal) {
        this.cancel();
        this.transport.stop(outcome.event);
        call(this.options.onRefused, outcome.event);
        return;
      }
      call(this.options.onRefused, outcome.event);
      if (!(await pause(this.nextDelay(outcome.retryAfter), signal))) return;
    }
  }

  private cancel(): void {
    this.cycle?.abort();
    this.cycle = undefined;
    this.endsAt = undefined;
  }
}

/**
 * The outcome an answer says: `{ ok: true, expiresAt }` (epoch ms, or `null`: no end), or
 * `{ ok: false, code }`, fatal for {@link WS_TICKET_FATAL_CODES}; anything else is a retryable
 * `ticket_refresh_failed`.
 */
function outcomeOf(answer: unknown): Outcome {
  const { ok, expiresAt, code } = (typeof answer === 'object' && answer !== null ? answer : {}) as {
    ok?: unknown;
    expiresAt?: unknown;
    code?: unknown;
  };
  if (ok === true && (expiresAt === null || Number.isFinite(expiresAt))) {
    return { ok: true, expiresAt: expiresAt as number | null };
  }
  if (ok === false && typeof code === 'string' && code !== '') {
    return { ok: false, event: { code, fatal: WS_TICKET_FATAL_CODES.includes(code) } };
  }
  const cause = new TypeError('the server answered something that is no refresh result');
  return { ok: false, event: { code: TICKET_REFRESH_FAILED, fatal: false, cause } };
}

/** `promise`'s value, or `undefined` as soon as `signal` aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then((value) => {
      signal.removeEventListener('abort', onAbort);
      resolve(value);
    });
  });
}

/** Resolves `true` after `ms`, or `false` as soon as `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Calls an app callback. What it throws is thrown again from a timer, as an event listener's error
 * would be, so that it neither goes unnoticed nor stops the helper halfway.
 */
function call<T>(callback: ((value: T) => void) | undefined, value: T): void {
  try {
    callback?.(value);
  } catch (error) {
    rethrow(error);
  }
}

function rethrow(error: unknown): void {
  setTimeout(() => {
    throw error;
  }, 0);
}
