import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  Optional,
} from '@nestjs/common';
import type { BearerRefusal } from './bearer/bearer.errors.js';
// A value import: Nest reads the constructor's parameter types to inject the verifier and store.
import { WsTicketBearerVerifier } from './bearer/bearer.verifier.js';
import { serviceOptions } from './internal/service-options.js';
import { notCounted } from './session/connection-limit.js';
import { ConnectionRegistries } from './session/connection-registries.js';
import { ticketOf } from './session/handshake-ticket.js';
import { RefusalLog } from './session/refusal-log.js';
import { type ServiceParts, serviceParts } from './session/service-parts.js';
import type { WsTicketSession } from './session/ws-ticket-session.types.js';
import { TicketStore } from './stores/ticket-store.js';
import { WsTicketTelemetry } from './telemetry/ws-ticket-telemetry.js';
import { TICKET_FORMAT, WS_TICKET_LOGGER_CONTEXT } from './ws-ticket.constants.js';
import { WsTicketErrorCode } from './ws-ticket.errors.js';
import { WS_TICKET_MODULE_OPTIONS } from './ws-ticket.module-definition.js';
import type {
  WsTicketClaims,
  WsTicketConnectionLimitAction,
  WsTicketModuleOptions,
} from './ws-ticket.options.js';
import type {
  WsTicketConnection,
  WsTicketConnectionLost,
  WsTicketConnectionRegistry,
  WsTicketHandshake,
  WsTicketRequest,
  WsTicketResponse,
} from './ws-ticket.types.js';

/**
 * Issues and consumes tickets, and revokes users. Inject it into your own controller (with
 * `controller: false`) to issue tickets behind your own guards.
 */
@Injectable()
export class WsTicketService<TUser = unknown>
  implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown
{
  /** Ticket lifetime, in seconds. */
  readonly ttl: number;
  /** Handshake `auth` key / query parameter carrying the ticket. */
  readonly param: string;
  /** Whether sockets are closed when their session ends. */
  readonly closeOnSessionEnd: boolean;
  /** Seconds before a session's end when `ws-ticket:expiring` is sent (`refreshWindow`); 0: never. */
  readonly refreshWindow: number;
  /** Upper bound on one call of the app's code (`callbackTimeout`), in milliseconds. */
  readonly callbackTimeout: number;
  /** Open connections allowed per user (`maxConnectionsPerUser`); `false`: no cap. */
  readonly maxConnectionsPerUser: number | false;
  /** What a handshake over `maxConnectionsPerUser` does (`onConnectionLimit`). */
  readonly onConnectionLimit: WsTicketConnectionLimitAction;

  private readonly logger = new Logger(WS_TICKET_LOGGER_CONTEXT);
  /** Refusals and failures, logged without flooding. */
  private readonly refusals = new RefusalLog(this.logger);
  private readonly registries: ConnectionRegistries;
  private readonly parts: ServiceParts<TUser>;
  /** Upper bound on one store operation (`storeTimeout`), in milliseconds. */
  private readonly storeTimeout: number;

  constructor(
    @Inject(WS_TICKET_MODULE_OPTIONS) readonly options: WsTicketModuleOptions<TUser>,
    store: TicketStore,
    /** Built from `options` when absent (made by hand, or a module providing the service alone). */
    @Optional()
    private readonly bearer: WsTicketBearerVerifier = new WsTicketBearerVerifier(options),
    /** Where the module's events are published (`WS_TICKET_CHANNELS`); adapters publish theirs. */
    @Optional() readonly telemetry: WsTicketTelemetry = new WsTicketTelemetry(),
  ) {
    const checked = serviceOptions(options);
    this.ttl = checked.ttl;
    this.param = checked.param;
    this.closeOnSessionEnd = checked.closeOnSessionEnd;
    this.refreshWindow = checked.refreshWindow;
    this.callbackTimeout = checked.callbackTimeout;
    this.maxConnectionsPerUser = checked.maxConnectionsPerUser;
    this.onConnectionLimit = checked.onConnectionLimit;
    this.storeTimeout = checked.storeTimeout;
    this.parts = serviceParts(options, checked, {
      store,
      logger: this.logger,
      refusals: this.refusals,
      onStoreFailure: (error) => this.logFailure('Ticket store failed', error),
      onRateLimited: () =>
        this.logRefusal(WsTicketErrorCode.RATE_LIMITED, 'Ticket request refused'),
      onEvictions: (userId, ids) => this.registries.announceEvictions(userId, ids),
      telemetry: this.telemetry,
    });
    this.registries = new ConnectionRegistries(this.logger, this.parts.channel, {
      revoked: (userId) => this.recordRevocation(userId),
      evicted: (userId, ids) => this.evictConnections(userId, ids),
    });
  }

  /** Whether bearer tokens can be verified: the `jwt` option is set. */
  get verifiesBearers(): boolean {
    return this.bearer.enabled;
  }

  /**
   * Verifies an `Authorization` header value ({@link WsTicketBearerVerifier.verify}).
   * @throws WsTicketBearerError `bearer_missing` or `bearer_invalid`
   * @throws WsTicketError `jwks_unavailable`
   * @throws Error when the module has no `jwt` option
   */
  verifyBearer(authorization: unknown): Promise<WsTicketClaims> {
    return this.bearer.verify(authorization);
  }

  /**
   * Runs `resolveUser` on claims, within `callbackTimeout`. Resolves `undefined` when the user is
   * refused (`undefined`, `null`, `false`, or a thrown `WsTicketError('user_rejected')`). A hook
   * that throws anything else failed: logged with its stack (never its arguments) and rejected as
   * `store_unavailable`, which clients retry; a thrown `WsTicketError` passes as is.
   * @throws WsTicketError `store_unavailable` when the hook timed out or threw
   */
  resolveUser(claims: WsTicketClaims): Promise<TUser | undefined> {
    return this.parts.callbacks.resolveUser(claims);
  }

  /**
   * Issues a ticket for an identity. `claims` is what `resolveUser` receives when the ticket is
   * consumed: the verified JWT claims, or any JSON-serializable object naming the user (`getUserId`,
   * by default `sub`; rooms, revocation and the issuance limit key on it) and, optionally, the
   * session's end in `exp` (seconds). `request` is needed for `bind`. Counts towards `issueLimit`;
   * does not run `resolveUser` (your own endpoint decides who may have a ticket).
   * @throws WsTicketBearerError `bearer_invalid` when the claims name no user
   * @throws WsTicketError `rate_limited` (with `retryAfter`) or `store_unavailable`
   */
  issue(claims: WsTicketClaims, request?: WsTicketRequest): Promise<WsTicketResponse> {
    return this.parts.issuer.issue(claims, request);
  }

  /**
   * What the built-in endpoint does with a request: verifies the `Authorization` header, counts the
   * issuance limit on the verified user id, runs `resolveUser` (only for requests inside the limit,
   * so a flood of one user never reaches your user backend) and issues a ticket.
   * @throws WsTicketBearerError `bearer_missing`, `bearer_invalid` or `user_rejected`
   * @throws WsTicketError `rate_limited` (with `retryAfter`), `store_unavailable` or
   *   `jwks_unavailable`
   */
  issueForBearer(authorization: unknown, request?: WsTicketRequest): Promise<WsTicketResponse> {
    return this.parts.issuer.issue(
      () => this.verifyBearer(authorization),
      request,
      async (verified) => (await this.resolveUser(verified)) !== undefined,
    );
  }

  /**
   * Makes everything the user holds now unusable for opening sockets, on every instance: tickets
   * already issued are deleted, handshakes in flight and shared consumptions are refused
   * (`user_revoked`). Open sockets stay: {@link disconnectUser} closes them. Resolves how many live
   * tickets were deleted.
   * @throws WsTicketError `store_unavailable`
   */
  async revokeUserTickets(userId: string): Promise<number> {
    this.telemetry.revoked(userId, 'tickets', null);
    const [deleted] = await Promise.all([
      this.parts.tickets.revokeOwner(userId),
      this.parts.revocation.revoke(userId),
    ]);
    return deleted;
  }

  /**
   * Closes every open socket of the user and refuses every handshake of theirs in flight and every
   * ticket issued before this call (they are deleted too; a handshake answers `user_revoked` or
   * `ticket_invalid`). Socket.IO: in every namespace and (through a Socket.IO adapter that supports
   * `serverSideEmit`, such as `@socket.io/redis-adapter`) on every instance; each socket receives
   * `unauthorized` `{ code }` and is disconnected by the server, and a connection authenticated as
   * the user alone but in no namespace any more is closed too. Raw WebSocket (`WsTicketWsAdapter`):
   * closed with `WS_TICKET_CLOSE_CODES[code]` and `code` as the reason, on this process and, when
   * the store carries messages between instances (`RedisTicketStore`), on every instance, through
   * the module's channel; so are those the guard admitted (guard-only). Other users' sockets are
   * untouched. The
   * sockets of this process are closed even when the store cannot record the revocation or carry
   * the message; the call then rejects with `store_unavailable`.
   *
   * Resolves how many of the user's connections **this instance** closed (a Socket.IO connection
   * multiplexing several namespaces counts once; other instances close theirs without answering)
   * once the other instances were told. In an app where no ticket adapter is registered (plain
   * `IoAdapter` or `WsAdapter`, an application context without gateways) and whose store carries
   * no messages, nothing can be closed: the tickets are still revoked, and a one-time warning names
   * the fix.
   * @throws WsTicketError `store_unavailable`
   */
  async disconnectUser(
    userId: string,
    code: WsTicketErrorCode = WsTicketErrorCode.USER_REVOKED,
  ): Promise<number> {
    this.telemetry.revoked(userId, 'disconnect', code);
    // The generation first: an instance that admits a socket after this reads the new one.
    const [recorded] = await Promise.allSettled([
      this.parts.revocation.revoke(userId),
      this.parts.tickets.revokeOwner(userId),
    ]);
    const [closed] = await Promise.allSettled([this.registries.disconnectUser(userId, code)]);
    if (recorded.status === 'rejected') throw recorded.reason;
    if (closed.status === 'rejected') throw closed.reason;
    return closed.value;
  }

  /**
   * Records a revocation of the user made on another instance, as if made here (the Socket.IO
   * adapter calls it when one reaches it through `serverSideEmit`): this process's handshakes in
   * flight and shared consumptions of the user are refused from now on.
   */
  recordRevocation(userId: string): void {
    this.parts.revocation.local.revoke(userId);
  }

  /**
   * Lets an adapter take part in {@link disconnectUser}. Returns a function that unregisters it.
   * Called by the adapters shipped with the module; custom transports may use it too.
   */
  registerConnections(registry: WsTicketConnectionRegistry): () => void {
    return this.registries.add(registry);
  }

  /**
   * Checks a handshake's `Origin` header against `allowedOrigins` (a function within
   * `callbackTimeout`).
   * @throws WsTicketError `origin_forbidden`, or `store_unavailable` when the function timed out
   *   or threw
   */
  checkOrigin(handshake: WsTicketHandshake): Promise<void> {
    return this.parts.origins.check(handshake);
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
    return this.logged(this.parts.consumer.consume(ticket, handshake));
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
      this.parts.connections.share(connection, ticket, () =>
        this.parts.consumer.consume(ticket, handshake),
      ),
    );
  }

  /**
   * Counts a refused handshake on a physical connection. Returns `true` once the connection was
   * refused too often (10 times): the caller closes it.
   */
  countRefusal(connection: object): boolean {
    return this.parts.connections.refused(connection);
  }

  /**
   * The last check before a socket is admitted, made once it is where `disconnectUser` finds it
   * (its user's room): refuses it when its user was revoked since its ticket was issued, here or on
   * another instance (the store's revocation generation).
   * @throws WsTicketError `user_revoked` or `store_unavailable`
   */
  confirmSession(session: WsTicketSession<TUser>): Promise<void> {
    return this.logged(this.parts.revocation.confirm(session));
  }

  /** True when this process revoked the session's user after the session started. */
  isSessionRevoked(session: WsTicketSession<TUser>): boolean {
    return this.parts.revocation.isRevoked(session);
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
    if (!this.parts.connectionLimit) return Promise.resolve(() => {});
    return this.logged(this.parts.connectionLimit.hold(userId, connection, lost));
  }

  /**
   * How many connections the user holds open now, on every instance sharing the store (per
   * process with the memory store), as counted for `maxConnectionsPerUser`.
   * @throws WsTicketError `store_unavailable`
   * @throws Error when `maxConnectionsPerUser` is off: nothing is counted then
   */
  connectionCount(userId: string): Promise<number> {
    return this.parts.connectionLimit?.count(userId) ?? Promise.reject(notCounted());
  }

  /**
   * Closes this process's connections of the user among `ids`, evicted by another instance's
   * handshake (`close-oldest`); called when the news reaches it through the Socket.IO adapter's
   * `serverSideEmit` or the store's channel between instances. Unknown ids are ignored.
   */
  evictConnections(userId: string, ids: readonly string[]): void {
    this.parts.connectionLimit?.evicted(userId, ids);
  }

  /**
   * Waits (up to `storeTimeout`) for the subscription to the other instances' messages, when an
   * adapter (or `guardOnly`) needs it, so that the app does not take sockets a `disconnectUser()`
   * elsewhere would miss; says once when it is not confirmed in time (it is, once the store is
   * back).
   */
  async onApplicationBootstrap(): Promise<void> {
    // The adapters registered while Nest connected the gateways; the guard registers at its first
    // socket, too late (gateways on a plain adapter without guardOnly are warned about already).
    if (this.options.guardOnly) this.registries.listen();
    await this.registries.listening(this.storeTimeout);
  }

  /**
   * Gives back the connection slots of this process at shutdown, before the adapters close their
   * sockets and the store its connection (a raw WebSocket's close may come after the store is
   * gone), so that a rolling deploy's reconnects find them free.
   */
  async beforeApplicationShutdown(): Promise<void> {
    await this.parts.connectionLimit?.releaseAll();
  }

  /**
   * Stops renewing connection slots (those of connections still open run out within the lease) and
   * listening to the other instances.
   */
  async onApplicationShutdown(): Promise<void> {
    this.parts.connectionLimit?.stop();
    await this.registries.close();
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
      this.parts.refresh.refresh(current, ticket, handshake),
      'WebSocket session refresh refused',
    );
  }

  /**
   * Logs a refusal through the module's refusal log: the first of each code per minute at once,
   * the rest as one summary line. For custom transports; the module's own paths already do.
   */
  logRefusal(code: WsTicketErrorCode | BearerRefusal, what = 'WebSocket ticket refused'): void {
    this.refusals.record(`${what}: ${code}`);
  }

  /**
   * Logs a failure (`what` is a fixed text, the error's message is added to its first line) through
   * the same throttled log. Never pass request data in `what`.
   */
  logFailure(what: string, error: unknown): void {
    this.refusals.recordMessage(what, error);
  }

  /** Logs a refusal (never its input) and passes it on. */
  private logged<T>(work: Promise<T>, what = 'WebSocket ticket refused'): Promise<T> {
    return this.refusals.passing(work, what);
  }
}
