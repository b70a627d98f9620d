import type { BearerRefusal } from '../bearer/bearer.errors.js';
import { TICKET_FORMAT } from '../ws-ticket.constants.js';
import type { WsTicketErrorCode } from '../ws-ticket.errors.js';
import type {
  WsTicketConnection,
  WsTicketConnectionLost,
  WsTicketHandshake,
} from '../ws-ticket.types.js';
import { notCounted } from './connection-limit.js';
import { ticketOf } from './handshake-ticket.js';
import type { RefusalLog } from './refusal-log.js';
import type { ServiceParts } from './service-parts.js';
import type { WsTicketSession } from './ws-ticket-session.types.js';

let wire: <TUser>(
  target: WsTicketConnections<TUser>,
  parts: ServiceParts<TUser>,
  refusals: RefusalLog,
) => void;

/**
 * Gives the connections' side of a service its parts; `WsTicketService`'s constructor calls it
 * once (internal: not exported by the package's entry points).
 */
export function wireConnections<TUser>(
  target: WsTicketConnections<TUser>,
  parts: ServiceParts<TUser>,
  refusals: RefusalLog,
): void {
  wire(target, parts, refusals);
}

/**
 * What `WsTicketService` offers the transports while a socket connects and lives: the handshake's
 * checks and consumption, the connection's bounds and slot, the session's refresh, and the
 * module's refusal log. The adapters shipped with the module call these; custom transports may
 * too. `WsTicketService` extends it (issuance, revocation and lifecycle are its own).
 */
export abstract class WsTicketConnections<TUser> {
  /** Handshake `auth` key / query parameter carrying the ticket. */
  abstract readonly param: string;
  /** Everything the service delegates to (set once, by {@link wireConnections}). */
  #parts!: ServiceParts<TUser>;
  /** Refusals and failures, logged without flooding. */
  #refusals!: RefusalLog;

  static {
    wire = (target, parts, refusals) => {
      target.#parts = parts;
      target.#refusals = refusals;
    };
  }

  /**
   * Checks a handshake's `Origin` header against `allowedOrigins` (a function within
   * `callbackTimeout`).
   * @throws WsTicketError `origin_forbidden`, or `store_unavailable` when the function timed out
   *   or threw
   */
  checkOrigin(handshake: WsTicketHandshake): Promise<void> {
    return this.#parts.origins.check(handshake);
  }

  /**
   * Reads the raw ticket from a handshake: `auth[param]` first, then the query parameter.
   * Returns whatever is there (validated by {@link consume}).
   */
  ticketFrom(handshake: WsTicketHandshake): unknown {
    return ticketOf(handshake, this.param);
  }

  /**
   * Consumes a ticket (single use) and returns the user behind it.
   * The origin and the format are checked before the store is touched.
   * @throws WsTicketError with one of the {@link WsTicketErrorCode} codes
   */
  async consume(ticket: unknown, handshake: WsTicketHandshake = {}): Promise<TUser> {
    return (await this.consumeSession(ticket, handshake)).user;
  }

  /**
   * Like {@link consume}, with what the adapters need to keep the connection in line with the
   * session: the user id (for rooms and revocation), the session's end and its revocation stamp.
   * An adapter calls {@link confirmSession} once the socket is findable by `disconnectUser`.
   */
  consumeSession(
    ticket: unknown,
    handshake: WsTicketHandshake = {},
  ): Promise<WsTicketSession<TUser>> {
    return this.logged(this.#parts.consumer.consume(ticket, handshake));
  }

  /**
   * Consumes the ticket of a handshake once per physical connection: Socket.IO clients multiplex
   * several namespaces over one connection and send the same ticket in each namespace's handshake,
   * concurrently. Handshakes on `connection` with the same well-formed ticket share one
   * consumption while it is in flight and for a few seconds after it succeeded; nothing is kept for
   * a refused or malformed ticket, and the connection's state has a small fixed bound.
   * @param connection an object that lives exactly as long as the physical connection
   *   (`socket.conn` for Socket.IO)
   */
  consumeForConnection(
    connection: object,
    handshake: WsTicketHandshake,
  ): Promise<WsTicketSession<TUser>> {
    const ticket = this.ticketFrom(handshake);
    if (typeof ticket !== 'string' || !TICKET_FORMAT.test(ticket)) {
      return this.consumeSession(ticket, handshake);
    }
    return this.logged(
      this.#parts.connections.share(connection, ticket, () =>
        this.#parts.consumer.consume(ticket, handshake),
      ),
    );
  }

  /**
   * Counts a refused handshake on a physical connection. Returns `true` once the connection was
   * refused too often (10 times): the caller closes it.
   */
  countRefusal(connection: object): boolean {
    return this.#parts.connections.refused(connection);
  }

  /**
   * The last check before a socket is admitted, made once it is where `disconnectUser` finds it
   * (its user's room): refuses it when its user was revoked since its ticket was issued, here or on
   * another instance (the store's revocation generation).
   * @throws WsTicketError `user_revoked` or `store_unavailable`
   */
  confirmSession(session: WsTicketSession<TUser>): Promise<void> {
    return this.logged(this.#parts.revocation.confirm(session));
  }

  /** True when this process revoked the session's user after the session started. */
  isSessionRevoked(session: WsTicketSession<TUser>): boolean {
    return this.#parts.revocation.isRevoked(session);
  }

  /**
   * Counts an admitted connection against `maxConnectionsPerUser` (what the adapters do once a
   * handshake passed every other check): takes a slot in the user's connection set, one store call,
   * unless `connection` holds one for the user already (Socket.IO namespaces multiplexed on one
   * connection count once). The slot is given back when `connection` emits `close`, or once every
   * handshake that held it called the function this resolves (Socket.IO: when the user's last
   * namespace socket on a connection that stays open is gone); `lost` closes the connection if its
   * slot is taken away (`onConnectionLimit: 'close-oldest'`). With the cap off it resolves at once,
   * touching nothing.
   * @param connection an object that lives exactly as long as the physical connection and emits
   *   `close` when it ends (`socket.conn` for Socket.IO, the request's TCP socket for raw ws); the
   *   caller has just seen it open
   * @throws WsTicketError `connection_limit` (with `'refuse'`) or `store_unavailable`
   */
  holdConnection(
    userId: string,
    connection: WsTicketConnection,
    lost: WsTicketConnectionLost,
  ): Promise<() => void> {
    if (!this.#parts.connectionLimit) return Promise.resolve(() => {});
    return this.logged(this.#parts.connectionLimit.hold(userId, connection, lost));
  }

  /**
   * How many connections the user holds open now, on every instance sharing the store (per
   * process with the memory store), as counted for `maxConnectionsPerUser`.
   * @throws WsTicketError `store_unavailable`
   * @throws Error when `maxConnectionsPerUser` is off: nothing is counted then
   */
  connectionCount(userId: string): Promise<number> {
    return this.#parts.connectionLimit?.count(userId) ?? Promise.reject(notCounted());
  }

  /**
   * Closes this process's connections of the user among `ids`, evicted by another instance's
   * handshake (`close-oldest`); called when the news reaches it through the Socket.IO adapter's
   * `serverSideEmit` or the store's channel between instances. Unknown ids are ignored.
   */
  evictConnections(userId: string, ids: readonly string[]): void {
    this.#parts.connectionLimit?.evicted(userId, ids);
  }

  /**
   * Extends a live connection's session with a fresh ticket (what the adapters do on
   * `ws-ticket:refresh`): the ticket is consumed exactly as at a handshake (origin, format,
   * single-use take, binding, session end, revocation, `resolveUser`, generation check) and must
   * name the same user as `current`. Resolves the replacing session (its user, end and stamp); on
   * a refusal `current` stays as it was. The caller extends only a connection that is still open
   * (`disconnectUser` closes the user's).
   * @throws WsTicketError `user_mismatch`, `user_revoked`, or any handshake refusal code
   */
  refreshSession(
    current: WsTicketSession<TUser>,
    ticket: unknown,
    handshake: WsTicketHandshake = {},
  ): Promise<WsTicketSession<TUser>> {
    return this.logged(
      this.#parts.refresh.refresh(current, ticket, handshake),
      'WebSocket session refresh refused',
    );
  }

  /**
   * Logs a refusal through the module's refusal log: the first of each code per minute at once,
   * the rest as one summary line. For custom transports; the module's own paths already do.
   */
  logRefusal(code: WsTicketErrorCode | BearerRefusal, what = 'WebSocket ticket refused'): void {
    this.#refusals.record(`${what}: ${code}`);
  }

  /**
   * Logs a failure (`what` is a fixed text, the error's message is added to its first line) through
   * the same throttled log. Never pass request data in `what`.
   */
  logFailure(what: string, error: unknown): void {
    this.#refusals.recordMessage(what, error);
  }

  /** Logs a refusal (never its input) and passes it on. */
  protected logged<T>(work: Promise<T>, what = 'WebSocket ticket refused'): Promise<T> {
    return this.#refusals.passing(work, what);
  }
}
