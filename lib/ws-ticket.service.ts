import { createHash, randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { type BearerRefusal, WsTicketBearerError } from './bearer/bearer.errors.js';
import { userIdFromSub, WsTicketBearerVerifier } from './bearer/bearer.verifier.js';
import { type HeaderBag, header } from './internal/http.js';
import { withTimeout } from './internal/with-timeout.js';
import { CONNECTION_LIMITS, ConnectionSessions } from './session/connection-sessions.js';
import { RefusalLog } from './session/refusal-log.js';
import { LocalRevocations } from './session/revocations.js';
import type { WsTicketSession } from './session/ws-ticket-session.types.js';
import { TicketStore } from './stores/ticket-store.js';
import {
  DEFAULT_CALLBACK_TIMEOUT,
  DEFAULT_KEY_PREFIX,
  DEFAULT_STORE_TIMEOUT,
  DEFAULT_TICKET_PARAM,
  DEFAULT_TICKET_TTL,
  TICKET_FORMAT,
  WS_TICKET_LOGGER_CONTEXT,
} from './ws-ticket.constants.js';
import { WsTicketError, WsTicketErrorCode } from './ws-ticket.errors.js';
import { WS_TICKET_MODULE_OPTIONS } from './ws-ticket.module-definition.js';
import type {
  WsTicketBindOptions,
  WsTicketClaims,
  WsTicketIssueLimit,
  WsTicketModuleOptions,
  WsTicketResolveUser,
} from './ws-ticket.options.js';

/** What the ticket endpoint returns. */
export interface WsTicketResponse {
  /** The ticket: a random v4 UUID, valid once. */
  uuid: string;
  /** Seconds until the ticket expires. */
  expiresIn: number;
}

/** The parts of a Socket.IO handshake (or a raw upgrade) the service reads. */
export interface WsTicketHandshake {
  /** Socket.IO `auth` payload. */
  auth?: Record<string, unknown>;
  /** Parsed query string; a repeated key is an array. */
  query?: Record<string, unknown>;
  /** Request headers (lowercase names). */
  headers?: HeaderBag;
  /** Peer IP address. */
  address?: string;
}

/** The parts of an HTTP request the service reads when issuing (Express and Fastify both fit). */
export interface WsTicketRequest {
  headers?: HeaderBag;
  /** The client IP as the HTTP framework sees it (honours Express' `trust proxy`). */
  ip?: string;
  socket?: { remoteAddress?: string };
}

/**
 * Something that holds open connections and can close a user's: each adapter registers one.
 * @see WsTicketService.disconnectUser
 */
export interface WsTicketConnectionRegistry {
  disconnectUser(userId: string, code: WsTicketErrorCode): void | Promise<void>;
}

interface TicketRecord {
  /** Identity handed back to `resolveUser`. */
  claims: WsTicketClaims;
  /** Expiry, epoch milliseconds (stores may expire lazily; this is checked too). */
  expiresAt: number;
  /** The user's revocation generation at issuance (absent in records of older versions: 0). */
  gen?: number;
  /** SHA-256 of the requesting IP, when bound. */
  ip?: string;
  /** SHA-256 of the requesting User-Agent, when bound. */
  ua?: string;
}

/** An app callback did not answer within `callbackTimeout`. */
class CallbackTimeout extends Error {
  constructor(readonly callback: string) {
    super(`${callback} timed out`);
  }
}

const PARAM_FORMAT = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Issues and consumes tickets, and revokes users. Inject it into your own controller (with
 * `controller: false`) to issue tickets behind your own guards.
 */
@Injectable()
export class WsTicketService<TUser = unknown> {
  /** Ticket lifetime, in seconds. */
  readonly ttl: number;
  /** Handshake `auth` key / query parameter carrying the ticket. */
  readonly param: string;
  /** Whether sockets are closed when their session ends. */
  readonly closeOnSessionEnd: boolean;

  private readonly logger = new Logger(WS_TICKET_LOGGER_CONTEXT);
  /** Refusals and failures, logged without flooding. */
  private readonly refusals = new RefusalLog(this.logger);
  private readonly bearer: WsTicketBearerVerifier;
  private readonly resolveUserHook: WsTicketResolveUser<TUser>;
  private readonly keyPrefix: string;
  private readonly storeTimeout: number;
  private readonly callbackTimeout: number;
  /** Life of a revocation generation after its last use, ms: longer than a ticket and a handshake. */
  private readonly generationTtl: number;
  private readonly connections: ConnectionSessions<TUser>;
  private readonly localRevocations: LocalRevocations;
  private readonly registries = new Set<WsTicketConnectionRegistry>();
  private readonly issueLimit: Required<WsTicketIssueLimit> | undefined;
  /** Whether the store keeps revocation generations (else revocation is process-local). */
  private readonly sharedRevocation: boolean;
  private readonly bind: WsTicketBindOptions;

  constructor(
    @Inject(WS_TICKET_MODULE_OPTIONS) private readonly options: WsTicketModuleOptions<TUser>,
    private readonly store: TicketStore,
  ) {
    this.ttl = positive(options.ttl ?? DEFAULT_TICKET_TTL, 'ttl');
    this.storeTimeout = positive(options.storeTimeout ?? DEFAULT_STORE_TIMEOUT, 'storeTimeout');
    this.callbackTimeout = positive(
      options.callbackTimeout ?? DEFAULT_CALLBACK_TIMEOUT,
      'callbackTimeout',
    );
    this.param = options.param ?? DEFAULT_TICKET_PARAM;
    if (!PARAM_FORMAT.test(this.param)) {
      throw new Error('WsTicketModule: `param` must be 1-64 letters, digits, "_" or "-".');
    }
    this.keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.resolveUserHook =
      options.resolveUser ?? ((claims: WsTicketClaims) => claims as unknown as TUser);
    this.bearer = new WsTicketBearerVerifier(options.jwt ?? {}, (claims) => this.userIdOf(claims));
    this.closeOnSessionEnd = options.closeOnSessionEnd ?? true;
    this.bind = options.bind ?? {};
    this.issueLimit =
      options.issueLimit === false
        ? undefined
        : {
            limit: positive(options.issueLimit?.limit ?? 60, 'issueLimit.limit'),
            window: positive(options.issueLimit?.window ?? 60, 'issueLimit.window'),
          };
    this.sharedRevocation = checkStoreMethods(store, this.issueLimit !== undefined, this.logger);
    const origins = options.allowedOrigins;
    if (origins !== undefined && typeof origins !== 'function' && !Array.isArray(origins)) {
      throw new Error('WsTicketModule: `allowedOrigins` must be a list of origins or a function.');
    }
    // A handshake takes at most: origin check + take + resolveUser + generation read.
    const longestHandshake = 2 * this.callbackTimeout + 2 * this.storeTimeout;
    this.generationTtl = this.ttl * 1000 + longestHandshake + CONNECTION_LIMITS.shareWindow + 1000;
    this.localRevocations = new LocalRevocations(this.generationTtl);
    // Shared no longer than the ticket itself lives: later, the ticket is as dead as any other.
    const limits = {
      ...CONNECTION_LIMITS,
      shareWindow: Math.min(CONNECTION_LIMITS.shareWindow, this.ttl * 1000),
    };
    this.connections = new ConnectionSessions<TUser>(limits, (session) =>
      this.isSessionRevoked(session),
    );
  }

  /**
   * Verifies an `Authorization` header value and returns the verified claims, which always name a
   * user (`getUserId`).
   * @throws WsTicketBearerError `bearer_missing` or `bearer_invalid`
   */
  verifyBearer(authorization: unknown): Promise<WsTicketClaims> {
    return this.bearer.verify(authorization);
  }

  /**
   * Runs `resolveUser` on claims, within `callbackTimeout`. Resolves `undefined` when the user is
   * refused (`undefined`, `null` or `false`); a throwing hook counts as a refusal (and is logged
   * without its arguments).
   * @throws WsTicketError `store_unavailable` when the hook timed out or threw it
   */
  async resolveUser(claims: WsTicketClaims): Promise<TUser | undefined> {
    let user: TUser | null | undefined | false;
    try {
      user = await this.callback('resolveUser', () => this.resolveUserHook(claims));
    } catch (error) {
      // A backend that is down is no refusal: clients retry store_unavailable (503), never
      // user_rejected.
      if (error instanceof WsTicketError && error.code === WsTicketErrorCode.STORE_UNAVAILABLE) {
        throw error;
      }
      this.logFailure('resolveUser threw', error);
      return undefined;
    }
    return user === undefined || user === null || user === false ? undefined : user;
  }

  /**
   * Issues a ticket for an identity. `claims` is what `resolveUser` receives when the ticket is
   * consumed: the verified JWT claims, or any JSON-serializable object naming the user (`getUserId`,
   * by default `sub`; rooms, revocation and the issuance limit key on it) and, optionally, the
   * session's end in `exp` (seconds). `request` is needed for `bind`.
   * @throws WsTicketBearerError `bearer_invalid` when the claims name no user
   * @throws WsTicketError `rate_limited` (with `retryAfter`) or `store_unavailable`
   */
  async issue(claims: WsTicketClaims, request?: WsTicketRequest): Promise<WsTicketResponse> {
    const userId = this.userIdOf(claims);
    if (userId === undefined) {
      throw new WsTicketBearerError('bearer_invalid', 'The identity names no user.');
    }
    const [generation] = await Promise.all([
      this.readGeneration(userId),
      this.issueLimit ? this.checkIssueLimit(userId, this.issueLimit) : undefined,
    ]);
    const uuid = randomUUID();
    const record: TicketRecord = {
      claims,
      expiresAt: Date.now() + this.ttl * 1000,
      gen: generation,
    };
    if (this.bind.ip) record.ip = sha256(this.requestIp(request) ?? '');
    if (this.bind.userAgent) record.ua = sha256(header(request?.headers, 'user-agent') ?? '');
    await this.withStore(() =>
      this.store.put(
        this.keyOf(uuid),
        JSON.stringify(record),
        this.ttl * 1000,
        this.ownerOf(userId),
      ),
    );
    return { uuid, expiresIn: this.ttl };
  }

  /**
   * Makes everything the user holds now unusable for opening sockets, on every instance: tickets
   * already issued are deleted, handshakes in flight and shared consumptions are refused
   * (`user_revoked`). Open sockets stay: {@link disconnectUser} closes them. Resolves how many live
   * tickets were deleted.
   * @throws WsTicketError `store_unavailable`
   */
  async revokeUserTickets(userId: string): Promise<number> {
    this.localRevocations.revoke(userId);
    const [deleted] = await Promise.all([
      this.withStore(() => this.store.revokeOwner(this.ownerOf(userId))),
      this.bumpGeneration(userId),
    ]);
    return deleted;
  }

  /**
   * Closes every open socket of the user and refuses every handshake of theirs in flight, with a
   * ticket issued before this call (`user_revoked`). Socket.IO: in every namespace and (through a
   * Socket.IO adapter such as `@socket.io/redis-adapter`) on every instance; each socket receives
   * `unauthorized` `{ code }` and is disconnected by the server, and a connection authenticated as
   * the user but in no namespace any more is closed too. Raw WebSocket (`WsTicketWsAdapter`): the
   * sockets of this process, closed with `WS_TICKET_CLOSE_CODES[code]` and `code` as the reason.
   * Other users' sockets are untouched. The sockets of this process are closed even when the store
   * cannot record the revocation; the call then rejects with `store_unavailable`.
   * @throws WsTicketError `store_unavailable`
   */
  async disconnectUser(
    userId: string,
    code: WsTicketErrorCode = WsTicketErrorCode.USER_REVOKED,
  ): Promise<void> {
    this.localRevocations.revoke(userId);
    // The generation first: an instance that admits a socket after this reads the new one.
    const recorded = await this.bumpGeneration(userId).then(
      () => undefined,
      (error: unknown) => error,
    );
    await Promise.all(
      [...this.registries].map((registry) => registry.disconnectUser(userId, code)),
    );
    if (recorded !== undefined) throw recorded;
  }

  /**
   * Lets an adapter take part in {@link disconnectUser}. Returns a function that unregisters it.
   * Called by the adapters shipped with the module; custom transports may use it too.
   */
  registerConnections(registry: WsTicketConnectionRegistry): () => void {
    this.registries.add(registry);
    return () => this.registries.delete(registry);
  }

  /**
   * Checks a handshake's `Origin` header against `allowedOrigins` (a function within
   * `callbackTimeout`).
   * @throws WsTicketError `origin_forbidden`, or `store_unavailable` when the function timed out
   */
  async checkOrigin(handshake: WsTicketHandshake): Promise<void> {
    const allowed = this.options.allowedOrigins;
    if (allowed === undefined) return;
    const origin = header(handshake.headers, 'origin');
    if (typeof allowed !== 'function') {
      if (origin === undefined || allowed.includes(origin)) return;
      throw new WsTicketError(WsTicketErrorCode.ORIGIN_FORBIDDEN);
    }
    let ok = false;
    try {
      ok = (await this.callback('allowedOrigins', () => allowed(origin))) === true;
    } catch (error) {
      if (error instanceof WsTicketError) throw error;
      this.logFailure('allowedOrigins threw', error);
    }
    if (!ok) throw new WsTicketError(WsTicketErrorCode.ORIGIN_FORBIDDEN);
  }

  /**
   * Reads the raw ticket from a handshake: `auth[param]` first, then the query parameter.
   * Returns whatever is there (validated by {@link consume}).
   */
  ticketFrom(handshake: WsTicketHandshake): unknown {
    const auth = handshake.auth;
    if (auth && typeof auth === 'object' && Object.hasOwn(auth, this.param))
      return auth[this.param];
    const query = handshake.query;
    if (query && typeof query === 'object' && Object.hasOwn(query, this.param))
      return query[this.param];
    return undefined;
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
    return this.logged(this.consumeOrThrow(ticket, handshake));
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
      this.connections.share(connection, ticket, () => this.consumeOrThrow(ticket, handshake)),
    );
  }

  /**
   * Counts a refused handshake on a physical connection. Returns `true` once the connection was
   * refused too often (10 times): the caller closes it.
   */
  countRefusal(connection: object): boolean {
    return this.connections.refused(connection);
  }

  /**
   * The last check before a socket is admitted, made once it is where `disconnectUser` finds it
   * (its user's room): refuses it when its user was revoked since its ticket was issued, here or on
   * another instance (the store's revocation generation).
   * @throws WsTicketError `user_revoked` or `store_unavailable`
   */
  async confirmSession(session: WsTicketSession<TUser>): Promise<void> {
    const confirm = async () => {
      this.assertNotRevoked(session);
      const generation = await this.readGeneration(session.userId);
      if (generation !== session.stamp.generation) {
        throw new WsTicketError(WsTicketErrorCode.USER_REVOKED);
      }
      this.assertNotRevoked(session);
    };
    return this.logged(confirm());
  }

  /** True when this process revoked the session's user after the session started. */
  isSessionRevoked(session: WsTicketSession<TUser>): boolean {
    return this.localRevocations.revokedSince(session.userId, session.stamp.startedAt);
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
    this.refusals.record(what, (error as Error)?.message ?? String(error));
  }

  private async consumeOrThrow(
    ticket: unknown,
    handshake: WsTicketHandshake,
  ): Promise<WsTicketSession<TUser>> {
    const startedAt = performance.now();
    await this.checkOrigin(handshake);
    if (ticket === undefined || ticket === null || ticket === '') {
      throw new WsTicketError(WsTicketErrorCode.TICKET_MISSING);
    }
    if (typeof ticket !== 'string' || !TICKET_FORMAT.test(ticket)) {
      throw new WsTicketError(WsTicketErrorCode.TICKET_MALFORMED);
    }
    const raw = await this.withStore(() => this.store.take(this.keyOf(ticket)));
    const record = raw === undefined ? undefined : parseRecord(raw);
    const now = Date.now();
    const userId = record && this.userIdOf(record.claims);
    if (!record || record.expiresAt <= now || userId === undefined) {
      throw new WsTicketError(WsTicketErrorCode.TICKET_INVALID);
    }
    if (
      (record.ip !== undefined && record.ip !== sha256(this.handshakeIp(handshake) ?? '')) ||
      (record.ua !== undefined &&
        record.ua !== sha256(header(handshake.headers, 'user-agent') ?? ''))
    ) {
      throw new WsTicketError(WsTicketErrorCode.TICKET_BINDING_MISMATCH);
    }
    const sessionExpiresAt =
      typeof record.claims.exp === 'number' ? record.claims.exp * 1000 : undefined;
    if (this.closeOnSessionEnd && sessionExpiresAt !== undefined && sessionExpiresAt <= now) {
      throw new WsTicketError(WsTicketErrorCode.SESSION_EXPIRED);
    }
    const stamp = { startedAt, generation: typeof record.gen === 'number' ? record.gen : 0 };
    const session = { userId, sessionExpiresAt, stamp };
    this.assertNotRevoked(session);
    const user = await this.resolveUser(record.claims);
    if (user === undefined) throw new WsTicketError(WsTicketErrorCode.USER_REJECTED);
    // A revocation that landed while resolveUser ran (its answer may predate it).
    this.assertNotRevoked(session);
    return { user, ...session };
  }

  private assertNotRevoked(session: Pick<WsTicketSession, 'userId' | 'stamp'>): void {
    if (this.localRevocations.revokedSince(session.userId, session.stamp.startedAt)) {
      throw new WsTicketError(WsTicketErrorCode.USER_REVOKED);
    }
  }

  /** Logs a refusal (never its input) and passes it on. */
  private async logged<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (error) {
      if (error instanceof WsTicketError) this.logRefusal(error.code);
      throw error;
    }
  }

  private async checkIssueLimit(userId: string, { limit, window }: Required<WsTicketIssueLimit>) {
    const key = `${this.keyPrefix}rate:${sha256(userId)}`;
    const { count, resetIn } = await this.withStore(() => this.store.increment(key, window * 1000));
    if (count > limit) {
      this.logRefusal(WsTicketErrorCode.RATE_LIMITED, 'Ticket request refused');
      throw new WsTicketError(WsTicketErrorCode.RATE_LIMITED, {
        retryAfter: Math.max(1, Math.ceil(resetIn / 1000)),
      });
    }
  }

  /** The user's revocation generation in the store (always 0 with a store that keeps none). */
  private async readGeneration(userId: string): Promise<number> {
    if (!this.sharedRevocation) return 0;
    return this.withStore(() =>
      this.store.readGeneration(this.generationKeyOf(userId), this.generationTtl),
    );
  }

  private async bumpGeneration(userId: string): Promise<number> {
    if (!this.sharedRevocation) return 0;
    return this.withStore(() =>
      this.store.bumpGeneration(this.generationKeyOf(userId), this.generationTtl),
    );
  }

  /** The user id `getUserId` reads from claims, or `undefined` when they name no usable one. */
  private userIdOf(claims: WsTicketClaims): string | undefined {
    let id: unknown;
    try {
      id = (this.options.getUserId ?? userIdFromSub)(claims);
    } catch {
      return undefined;
    }
    if (typeof id === 'string') return id === '' ? undefined : id;
    return typeof id === 'number' && Number.isFinite(id) ? String(id) : undefined;
  }

  private requestIp(request: WsTicketRequest | undefined): string | undefined {
    if (this.bind.trustProxy) {
      const forwarded = firstForwarded(request?.headers);
      if (forwarded) return forwarded;
    }
    return request?.ip ?? request?.socket?.remoteAddress;
  }

  private handshakeIp(handshake: WsTicketHandshake): string | undefined {
    if (this.bind.trustProxy) {
      const forwarded = firstForwarded(handshake.headers);
      if (forwarded) return forwarded;
    }
    return handshake.address;
  }

  private ownerOf(userId: string): string {
    return `${this.keyPrefix}user:${sha256(userId)}`;
  }

  private generationKeyOf(userId: string): string {
    return `${this.keyPrefix}revoked:${sha256(userId)}`;
  }

  private keyOf(ticket: string): string {
    return this.keyPrefix + sha256(ticket);
  }

  /** Runs an app callback within `callbackTimeout`; a timeout is `store_unavailable`. */
  private async callback<T>(name: string, call: () => T | PromiseLike<T>): Promise<T> {
    try {
      return await withTimeout(call, this.callbackTimeout, () => new CallbackTimeout(name));
    } catch (error) {
      if (!(error instanceof CallbackTimeout)) throw error;
      this.refusals.record(
        `${name} did not answer within ${this.callbackTimeout} ms (answered store_unavailable)`,
      );
      throw new WsTicketError(WsTicketErrorCode.STORE_UNAVAILABLE, { cause: error });
    }
  }

  /** Runs a store operation within `storeTimeout`; any failure becomes `store_unavailable`. */
  private async withStore<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await withTimeout(operation, this.storeTimeout, () => new Error('timed out'));
    } catch (error) {
      this.logFailure('Ticket store failed', error);
      throw new WsTicketError(WsTicketErrorCode.STORE_UNAVAILABLE, { cause: error });
    }
  }
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

function firstForwarded(headers: HeaderBag | undefined): string | undefined {
  return header(headers, 'x-forwarded-for')?.split(',')[0]?.trim() || undefined;
}

function positive(value: number, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new Error(`WsTicketModule: \`${name}\` must be a positive number.`);
  }
  return value;
}

/**
 * A store that lacks what the issuance limit needs fails the boot, naming the fix. One without
 * revocation generations still works, with revocation local to this process: said once, at boot.
 * Returns whether the store keeps generations.
 */
function checkStoreMethods(store: TicketStore, issueLimit: boolean, logger: Logger): boolean {
  if (issueLimit && store.increment === TicketStore.prototype.increment) {
    throw new Error(
      `WsTicketModule: ${store.constructor.name} has no increment(), which the issuance limit ` +
        'needs: implement it, or set `issueLimit: false`.',
    );
  }
  const shared = (['readGeneration', 'bumpGeneration'] as const).every(
    (name) => store[name] !== TicketStore.prototype[name],
  );
  if (!shared) {
    logger.warn(
      `${store.constructor.name} has no readGeneration()/bumpGeneration(): revocation reaches ` +
        'this process only. Implement both (see TicketStore) when several instances share it.',
    );
  }
  return shared;
}

function parseRecord(raw: string): TicketRecord | undefined {
  try {
    const record = JSON.parse(raw) as Partial<TicketRecord>;
    if (
      typeof record?.expiresAt !== 'number' ||
      typeof record.claims !== 'object' ||
      record.claims === null
    ) {
      return undefined;
    }
    return record as TicketRecord;
  } catch {
    return undefined;
  }
}
