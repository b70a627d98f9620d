import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  Optional,
} from '@nestjs/common';
// A value import: Nest reads the constructor's parameter types to inject the verifier and store.
import { WsTicketBearerVerifier } from './bearer/bearer.verifier.js';
import { exposeChannel } from './internal/service-channel.js';
import { serviceOptions } from './internal/service-options.js';
import { ConnectionRegistries } from './session/connection-registries.js';
import { RefusalLog } from './session/refusal-log.js';
import { type ServiceParts, serviceParts } from './session/service-parts.js';
import { WsTicketConnections, wireConnections } from './session/ws-ticket-connections.js';
import { TicketStore } from './stores/ticket-store.js';
import { WsTicketTelemetry } from './telemetry/ws-ticket-telemetry.js';
import { WS_TICKET_LOGGER_CONTEXT } from './ws-ticket.constants.js';
import { WsTicketErrorCode } from './ws-ticket.errors.js';
import { WS_TICKET_MODULE_OPTIONS } from './ws-ticket.module-definition.js';
import type {
  WsTicketClaims,
  WsTicketConnectionLimitAction,
  WsTicketModuleOptions,
} from './ws-ticket.options.js';
import type {
  WsTicketConnectionRegistry,
  WsTicketRequest,
  WsTicketResponse,
} from './ws-ticket.types.js';

/**
 * Issues and consumes tickets, and revokes users. Inject it into your own controller (with
 * `controller: false`) to issue tickets behind your own guards. What the transports call while a
 * socket connects and lives (consumption, connection bounds, refresh, the refusal log) comes from
 * {@link WsTicketConnections}, which it extends.
 */
@Injectable()
export class WsTicketService<TUser = unknown>
  extends WsTicketConnections<TUser>
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

  static {
    // The rooms send their cross-instance messages on the same channel (internal accessor).
    exposeChannel((service) => service.parts.channel);
  }

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
    super();
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
    wireConnections(this, this.parts, this.refusals);
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
}
