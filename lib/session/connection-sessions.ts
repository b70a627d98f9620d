import { WsTicketError, WsTicketErrorCode } from '../ws-ticket.errors.js';
import { SessionTimeline } from './session-timeline.js';
import type { WsTicketSession } from './ws-ticket-session.types.js';

/** When fresh consumptions are forgotten: clean-ups only, so it never keeps the process up. */
const forgetting = new SessionTimeline(true);

/** Bounds of the state kept per physical connection. */
export interface ConnectionLimits {
  /** Tickets whose consumption one connection may share at a time. */
  maxShared: number;
  /** How long a successful consumption may be shared after it succeeded, in milliseconds. */
  shareWindow: number;
  /** Refused handshakes after which the connection is closed. */
  maxRefusals: number;
}

/** Per-connection defaults: a handful of tickets, for seconds, and ten refusals. */
export const CONNECTION_LIMITS: ConnectionLimits = {
  maxShared: 4,
  shareWindow: 10_000,
  maxRefusals: 10,
};

interface SharedEntry<TUser> {
  /** Set while the consumption is in flight: concurrent handshakes wait for the same outcome. */
  pending?: Promise<WsTicketSession<TUser>>;
  session?: WsTicketSession<TUser>;
  /** `performance.now()` after which the session is no longer shared. */
  freshUntil: number;
}

interface ConnectionState<TUser> {
  shared: Map<string, SharedEntry<TUser>>;
  refusals: number;
}

/**
 * What one physical connection remembers about tickets, with a fixed bound whatever it sends:
 * Socket.IO clients multiplex namespaces over one connection and send the same ticket in each
 * namespace's handshake, concurrently, so a ticket's consumption is shared among the handshakes of
 * the same connection that arrive while it is in flight or fresh. Only well-formed tickets are
 * shared (the caller checks), a refused consumption is forgotten at once, a successful one when
 * its share window ends (so that a connection holds nothing of it for its whole life), at most
 * `maxShared` tickets are remembered, and a revoked session is dropped when it is next asked for.
 * The state lives in a `WeakMap` keyed by the connection object, so it goes with the connection.
 */
export class ConnectionSessions<TUser> {
  private readonly states = new WeakMap<object, ConnectionState<TUser>>();

  constructor(
    private readonly limits: ConnectionLimits,
    /** True when the session was revoked after it started (checked before sharing it again). */
    private readonly isRevoked: (session: WsTicketSession<TUser>) => boolean,
  ) {}

  /**
   * Consumes `ticket` through `consume`, or hands out the consumption of the same ticket that this
   * connection has in flight or fresh.
   * @throws WsTicketError `user_revoked` for a shared session revoked since
   */
  share(
    connection: object,
    ticket: string,
    consume: () => Promise<WsTicketSession<TUser>>,
  ): Promise<WsTicketSession<TUser>> {
    const state = this.stateOf(connection);
    const now = performance.now();
    this.prune(state, now);
    const entry = state.shared.get(ticket);
    if (entry?.pending) return entry.pending;
    if (entry?.session) {
      if (!this.isRevoked(entry.session)) return Promise.resolve(entry.session);
      state.shared.delete(ticket);
      return Promise.reject(new WsTicketError(WsTicketErrorCode.USER_REVOKED));
    }
    // Full: consumed on its own, remembered nowhere.
    if (state.shared.size >= this.limits.maxShared) return consume();
    const pending = consume();
    const created: SharedEntry<TUser> = { pending, freshUntil: 0 };
    state.shared.set(ticket, created);
    pending.then(
      (session) => {
        created.pending = undefined;
        created.session = session;
        created.freshUntil = performance.now() + this.limits.shareWindow;
        forgetting.add(Date.now() + this.limits.shareWindow, () => {
          if (state.shared.get(ticket) === created) state.shared.delete(ticket);
          if (state.shared.size === 0 && state.refusals === 0) this.states.delete(connection);
        });
      },
      () => {
        if (state.shared.get(ticket) === created) state.shared.delete(ticket);
      },
    );
    return pending;
  }

  /**
   * Counts a refused handshake on the connection. Returns `true` once the connection reached
   * `maxRefusals`: the caller closes it.
   */
  refused(connection: object): boolean {
    const state = this.stateOf(connection);
    state.refusals++;
    return state.refusals >= this.limits.maxRefusals;
  }

  /** Tickets the connection remembers now (in flight or fresh): never above `maxShared`. */
  sharedCount(connection: object): number {
    const state = this.states.get(connection);
    if (!state) return 0;
    this.prune(state, performance.now());
    return state.shared.size;
  }

  private stateOf(connection: object): ConnectionState<TUser> {
    let state = this.states.get(connection);
    if (!state) {
      state = { shared: new Map(), refusals: 0 };
      this.states.set(connection, state);
    }
    return state;
  }

  private prune(state: ConnectionState<TUser>, now: number): void {
    for (const [ticket, entry] of state.shared) {
      if (!entry.pending && entry.freshUntil <= now) state.shared.delete(ticket);
    }
  }
}
