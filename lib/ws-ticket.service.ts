import {
  createHash,
  createPublicKey,
  createSecretKey,
  type KeyObject,
  randomUUID,
} from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { TicketStore } from './stores/ticket-store.js';
import {
  DEFAULT_JWT_ALGORITHMS,
  DEFAULT_KEY_PREFIX,
  DEFAULT_STORE_TIMEOUT,
  DEFAULT_TICKET_PARAM,
  DEFAULT_TICKET_TTL,
  MAX_BEARER_LENGTH,
  TICKET_FORMAT,
  WS_TICKET_LOGGER_CONTEXT,
} from './ws-ticket.constants.js';
import { WsTicketError, WsTicketErrorCode } from './ws-ticket.errors.js';
import { WS_TICKET_MODULE_OPTIONS } from './ws-ticket.module-definition.js';
import type {
  WsTicketBindOptions,
  WsTicketClaims,
  WsTicketIssueLimit,
  WsTicketJwtAlgorithm,
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
  /** Parsed query string. */
  query?: Record<string, unknown>;
  /** Request headers (lowercase names). */
  headers?: Record<string, string | string[] | undefined>;
  /** Peer IP address. */
  address?: string;
}

/** The parts of an HTTP request the service reads when issuing (Express and Fastify both fit). */
export interface WsTicketRequest {
  headers?: Record<string, string | string[] | undefined>;
  /** The client IP as the HTTP framework sees it (honours Express' `trust proxy`). */
  ip?: string;
  socket?: { remoteAddress?: string };
}

/** A consumed ticket: who connected, and until when their session lasts. */
export interface WsTicketSession<TUser = unknown> {
  /** What `resolveUser` returned. */
  user: TUser;
  /** The `sub` claim: the key of the per-user room and of revocation. */
  userId: string | undefined;
  /** When the bearer JWT behind the ticket expires, epoch milliseconds. */
  sessionExpiresAt: number | undefined;
}

/**
 * Something that holds open connections and can close a user's: each adapter registers one.
 * @see WsTicketService.disconnectUser
 */
export interface WsTicketConnectionRegistry {
  disconnectUser(userId: string, code: WsTicketErrorCode): void | Promise<void>;
}

/** Why a bearer token was refused at the ticket endpoint. */
export type BearerRefusal = 'bearer_missing' | 'bearer_invalid' | 'user_rejected';

/** A refused bearer token. The controller turns it into a 401 with `WWW-Authenticate`. */
export class WsTicketBearerError extends Error {
  override readonly name = 'WsTicketBearerError';
  constructor(
    readonly code: BearerRefusal,
    readonly description: string,
  ) {
    super(code);
  }
}

interface SharedConsumption<TUser> {
  session: Promise<WsTicketSession<TUser>>;
  /** Epoch milliseconds after which the ticket may no longer be shared. */
  until: number;
}

interface TicketRecord {
  /** Identity handed back to `resolveUser`. */
  claims: WsTicketClaims;
  /** Expiry, epoch milliseconds (stores may expire lazily; this is checked too). */
  expiresAt: number;
  /** SHA-256 of the requesting IP, when bound. */
  ip?: string;
  /** SHA-256 of the requesting User-Agent, when bound. */
  ua?: string;
}

const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
const PARAM_FORMAT = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Issues and consumes tickets. Inject it into your own controller (with `controller: false`) to
 * issue tickets behind your own guards.
 */
@Injectable()
export class WsTicketService<TUser = unknown> {
  /** Ticket lifetime, in seconds. */
  readonly ttl: number;
  /** Handshake `auth` key / query parameter carrying the ticket. */
  readonly param: string;

  private readonly logger = new Logger(WS_TICKET_LOGGER_CONTEXT);
  private readonly resolveUserHook: WsTicketResolveUser<TUser>;
  private readonly keyPrefix: string;
  private readonly storeTimeout: number;
  private readonly jwt: JwtService;
  private readonly algorithms: WsTicketJwtAlgorithm[];
  /** In-flight or settled consumptions per physical connection, keyed by ticket. */
  private readonly shared = new WeakMap<object, Map<string, SharedConsumption<TUser>>>();
  private readonly registries = new Set<WsTicketConnectionRegistry>();
  private readonly issueLimit: Required<WsTicketIssueLimit> | undefined;
  private readonly bind: WsTicketBindOptions;
  /** Whether sockets are closed when their session ends. */
  readonly closeOnSessionEnd: boolean;

  constructor(
    @Inject(WS_TICKET_MODULE_OPTIONS) private readonly options: WsTicketModuleOptions<TUser>,
    private readonly store: TicketStore,
  ) {
    const jwt = options.jwt ?? {};
    this.ttl = positive(options.ttl ?? DEFAULT_TICKET_TTL, 'ttl');
    this.storeTimeout = positive(options.storeTimeout ?? DEFAULT_STORE_TIMEOUT, 'storeTimeout');
    this.param = options.param ?? DEFAULT_TICKET_PARAM;
    if (!PARAM_FORMAT.test(this.param)) {
      throw new Error('WsTicketModule: `param` must be 1-64 letters, digits, "_" or "-".');
    }
    this.keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.resolveUserHook =
      options.resolveUser ?? ((claims: WsTicketClaims) => claims as unknown as TUser);
    this.algorithms = [...(jwt.algorithms ?? DEFAULT_JWT_ALGORITHMS)];
    if (
      this.algorithms.length === 0 ||
      this.algorithms.some((a) => String(a).toLowerCase() === 'none')
    ) {
      throw new Error(
        'WsTicketModule: `jwt.algorithms` must list at least one algorithm, never "none".',
      );
    }
    if (!jwt.service && !jwt.secret && !jwt.publicKey) {
      throw new Error('WsTicketModule: set `jwt.secret`, `jwt.publicKey` or `jwt.service`.');
    }
    this.jwt =
      jwt.service ??
      new JwtService({ secret: secretKey(jwt.secret), publicKey: publicKey(jwt.publicKey) });
    this.closeOnSessionEnd = options.closeOnSessionEnd ?? true;
    this.bind = options.bind ?? {};
    this.issueLimit =
      options.issueLimit === false
        ? undefined
        : {
            limit: positive(options.issueLimit?.limit ?? 60, 'issueLimit.limit'),
            window: positive(options.issueLimit?.window ?? 60, 'issueLimit.window'),
          };
    if (this.issueLimit && store.increment === TicketStore.prototype.increment) {
      throw new Error(
        `WsTicketModule: ${store.constructor.name} has no increment(), which the issuance limit ` +
          'needs: implement it, or set `issueLimit: false`.',
      );
    }
    const origins = options.allowedOrigins;
    if (origins !== undefined && typeof origins !== 'function' && !Array.isArray(origins)) {
      throw new Error('WsTicketModule: `allowedOrigins` must be a list of origins or a function.');
    }
  }

  /**
   * Verifies an `Authorization` header value and returns the verified claims.
   * @throws WsTicketBearerError `bearer_missing` or `bearer_invalid`
   */
  async verifyBearer(authorization: unknown): Promise<WsTicketClaims> {
    if (typeof authorization !== 'string' || authorization.length === 0) {
      throw new WsTicketBearerError('bearer_missing', 'Bearer token required.');
    }
    const match = authorization.length <= MAX_BEARER_LENGTH ? BEARER.exec(authorization) : null;
    if (!match) throw new WsTicketBearerError('bearer_invalid', 'Malformed bearer token.');
    const { issuer, audience, clockTolerance, allowMissingExp } = this.options.jwt ?? {};
    let claims: WsTicketClaims;
    try {
      claims = await this.jwt.verifyAsync<WsTicketClaims>(match[1], {
        algorithms: this.algorithms,
        issuer: issuer as string | [string, ...string[]] | undefined,
        audience: audience as string | [string, ...string[]] | undefined,
        clockTolerance,
      });
    } catch (error) {
      const expired = (error as Error)?.name === 'TokenExpiredError';
      throw new WsTicketBearerError(
        'bearer_invalid',
        expired ? 'The bearer token has expired.' : 'The bearer token is invalid.',
      );
    }
    if (typeof claims !== 'object' || claims === null) {
      throw new WsTicketBearerError('bearer_invalid', 'The bearer token is invalid.');
    }
    if (typeof claims.exp !== 'number' && !allowMissingExp) {
      throw new WsTicketBearerError('bearer_invalid', 'The bearer token has no expiry.');
    }
    return claims;
  }

  /**
   * Runs `resolveUser` on claims. Resolves `undefined` when the user is refused; a throwing hook
   * counts as a refusal (and is logged without its arguments).
   */
  async resolveUser(claims: WsTicketClaims): Promise<TUser | undefined> {
    try {
      return (await this.resolveUserHook(claims)) ?? undefined;
    } catch (error) {
      // A backend that is down is no refusal: clients retry store_unavailable (503), never
      // user_rejected.
      if (error instanceof WsTicketError && error.code === WsTicketErrorCode.STORE_UNAVAILABLE) {
        throw error;
      }
      this.logger.error(`resolveUser threw: ${(error as Error)?.message ?? String(error)}`);
      return undefined;
    }
  }

  /**
   * Issues a ticket for an identity. `claims` is what `resolveUser` receives when the ticket is
   * consumed: the verified JWT claims, or any JSON-serializable object carrying the user's id in
   * `sub` (rooms, revocation and the issuance limit key on it) and, optionally, the session's end
   * in `exp` (seconds). `request` is needed for `bind`.
   * @throws WsTicketError `rate_limited` (with `retryAfter`) or `store_unavailable`
   */
  async issue(claims: WsTicketClaims, request?: WsTicketRequest): Promise<WsTicketResponse> {
    const userId = userIdOf(claims);
    if (this.issueLimit && userId !== undefined)
      await this.checkIssueLimit(userId, this.issueLimit);
    const uuid = randomUUID();
    const record: TicketRecord = { claims, expiresAt: Date.now() + this.ttl * 1000 };
    if (this.bind.ip) record.ip = sha256(this.requestIp(request) ?? '');
    if (this.bind.userAgent) record.ua = sha256(header(request?.headers, 'user-agent') ?? '');
    const owner = userId === undefined ? undefined : this.ownerOf(userId);
    await this.withStore(() =>
      this.store.put(this.keyOf(uuid), JSON.stringify(record), this.ttl * 1000, owner),
    );
    return { uuid, expiresIn: this.ttl };
  }

  /**
   * Makes every ticket already issued to the user unusable (they are deleted from the store).
   * Resolves how many live tickets were revoked.
   * @throws WsTicketError `store_unavailable`
   */
  revokeUserTickets(userId: string): Promise<number> {
    return this.withStore(() => this.store.revokeOwner(this.ownerOf(userId)));
  }

  /**
   * Closes every open socket of the user. Socket.IO: in every namespace and (through a Socket.IO
   * adapter such as `@socket.io/redis-adapter`) on every instance; each receives `unauthorized`
   * `{ code }` and is disconnected by the server. Raw WebSocket (`WsTicketWsAdapter`): the sockets of
   * this process, closed with `WS_TICKET_CLOSE_CODES[code]` and `code` as the reason.
   * Other users' sockets are untouched.
   */
  async disconnectUser(
    userId: string,
    code: WsTicketErrorCode = WsTicketErrorCode.USER_REVOKED,
  ): Promise<void> {
    await Promise.all(
      [...this.registries].map((registry) => registry.disconnectUser(userId, code)),
    );
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
   * Checks a handshake's `Origin` header against `allowedOrigins`.
   * @throws WsTicketError `origin_forbidden`
   */
  async checkOrigin(handshake: WsTicketHandshake): Promise<void> {
    const allowed = this.options.allowedOrigins;
    if (allowed === undefined) return;
    const origin = header(handshake.headers, 'origin');
    let ok = false;
    try {
      ok =
        typeof allowed === 'function'
          ? (await allowed(origin)) === true
          : origin === undefined || allowed.includes(origin);
    } catch (error) {
      this.logger.error(`allowedOrigins threw: ${(error as Error)?.message ?? String(error)}`);
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
   * session: the user id (for rooms and revocation) and the session's end.
   */
  async consumeSession(
    ticket: unknown,
    handshake: WsTicketHandshake = {},
  ): Promise<WsTicketSession<TUser>> {
    try {
      return await this.consumeOrThrow(ticket, handshake);
    } catch (error) {
      if (error instanceof WsTicketError)
        this.logger.warn(`WebSocket ticket refused: ${error.code}`);
      throw error;
    }
  }

  /**
   * Consumes the ticket of a handshake once per physical connection: Socket.IO clients multiplex
   * several namespaces over one connection and send the same ticket in each namespace's handshake,
   * concurrently. Every handshake on `connection` with the same ticket shares one consumption
   * (and its result or refusal); a different ticket is consumed on its own.
   * @param connection an object that lives exactly as long as the physical connection
   *   (`socket.conn` for Socket.IO)
   */
  consumeForConnection(
    connection: object,
    handshake: WsTicketHandshake,
  ): Promise<WsTicketSession<TUser>> {
    const ticket = this.ticketFrom(handshake);
    if (typeof ticket !== 'string') return this.consumeSession(ticket, handshake);
    let byTicket = this.shared.get(connection);
    if (!byTicket) {
      byTicket = new Map();
      this.shared.set(connection, byTicket);
    }
    const shared = byTicket.get(ticket);
    if (shared) {
      // Sharing covers the ticket's own lifetime only: later, the ticket is as dead as any other.
      if (shared.until > Date.now()) return shared.session;
      return this.consumeSession(ticket, handshake);
    }
    const session = this.consumeSession(ticket, handshake);
    byTicket.set(ticket, { session, until: Date.now() + this.ttl * 1000 });
    return session;
  }

  private async consumeOrThrow(
    ticket: unknown,
    handshake: WsTicketHandshake,
  ): Promise<WsTicketSession<TUser>> {
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
    if (!record || record.expiresAt <= now) {
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
    const user = await this.resolveUser(record.claims);
    if (user === undefined) throw new WsTicketError(WsTicketErrorCode.USER_REJECTED);
    return { user, userId: userIdOf(record.claims), sessionExpiresAt };
  }

  private async checkIssueLimit(userId: string, { limit, window }: Required<WsTicketIssueLimit>) {
    const key = `${this.keyPrefix}rate:${sha256(userId)}`;
    const { count, resetIn } = await this.withStore(() => this.store.increment(key, window * 1000));
    if (count > limit) {
      this.logger.warn(`Ticket request refused: ${WsTicketErrorCode.RATE_LIMITED}`);
      throw new WsTicketError(WsTicketErrorCode.RATE_LIMITED, {
        retryAfter: Math.max(1, Math.ceil(resetIn / 1000)),
      });
    }
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

  private keyOf(ticket: string): string {
    return this.keyPrefix + sha256(ticket);
  }

  /** Runs a store operation within `storeTimeout`; any failure becomes `store_unavailable`. */
  private async withStore<T>(operation: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out')), this.storeTimeout);
    });
    try {
      return await Promise.race([operation(), timeout]);
    } catch (error) {
      this.logger.warn(`Ticket store failed: ${(error as Error)?.message ?? String(error)}`);
      throw new WsTicketError(WsTicketErrorCode.STORE_UNAVAILABLE, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }
}

function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

function userIdOf(claims: WsTicketClaims): string | undefined {
  const sub = claims.sub;
  return typeof sub === 'string' || typeof sub === 'number' ? String(sub) : undefined;
}

function header(
  headers: Record<string, string | string[] | undefined> | undefined,
  name: string,
): string | undefined {
  const value = headers?.[name];
  return Array.isArray(value) ? value[0] : value;
}

function firstForwarded(headers: WsTicketRequest['headers']): string | undefined {
  return header(headers, 'x-forwarded-for')?.split(',')[0]?.trim() || undefined;
}

// jsonwebtoken tries every string or Buffer key as a PEM public key before it falls back to an HMAC
// secret: an OpenSSL decoder run on each verify (about 0.5 ms, most of the ticket endpoint's CPU).
// The keys become KeyObjects once, here, and keep the protection that fallback gave: a public key
// pasted into `secret` must not turn into an HMAC secret anyone could sign with.
function secretKey(secret: string | Buffer | undefined): KeyObject | undefined {
  if (secret === undefined || secret.length === 0) return undefined;
  let isPemKey = false;
  try {
    createPublicKey(secret);
    isPemKey = true;
  } catch {
    // Not a key: an HMAC secret, as intended.
  }
  if (isPemKey) {
    throw new Error(
      'WsTicketModule: `jwt.secret` holds a PEM key, not an HMAC secret; use `jwt.publicKey`.',
    );
  }
  return createSecretKey(typeof secret === 'string' ? Buffer.from(secret) : secret);
}

function publicKey(key: string | Buffer | undefined): KeyObject | undefined {
  if (key === undefined || key.length === 0) return undefined;
  try {
    return createPublicKey(key);
  } catch {
    throw new Error('WsTicketModule: `jwt.publicKey` is not a PEM public key or certificate.');
  }
}

function positive(value: number, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new Error(`WsTicketModule: \`${name}\` must be a positive number.`);
  }
  return value;
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
