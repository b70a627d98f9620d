import type { ConfigurableModuleAsyncOptions } from '@nestjs/common';
import type { WsTicketJwtOptions } from './bearer/bearer.options.js';
import type { WsTicketRoomOptions } from './rooms/rooms.options.js';
import type { TicketStore } from './stores/ticket-store.js';

/**
 * Verified JWT claims, as handed to `resolveUser`. Only the registered claims the module reads are
 * typed; everything else the token carries is kept.
 */
export interface WsTicketClaims {
  /** Subject: the user's id. */
  sub?: string | undefined;
  /** Expiry, in seconds since the epoch. */
  exp?: number | undefined;
  /** Issued at, in seconds since the epoch. */
  iat?: number | undefined;
  [claim: string]: unknown;
}

/**
 * Turns the identity stored with a ticket into the user the connection will carry.
 * Return `undefined`, `null` or `false` to refuse (inactive, deleted or banned users), so that a
 * natural `(claims) => !banned.has(claims.sub)` refuses too. Any other value is the user. Throw
 * only when you cannot tell (the user backend is down): a throw is a failure, answered
 * `store_unavailable` (retried by clients), never a refusal.
 */
export type WsTicketResolveUser<TUser = unknown> = (
  claims: WsTicketClaims,
) => TUser | null | undefined | false | Promise<TUser | null | undefined | false>;

/**
 * Reads the user's id from verified claims: the key of the per-user room, of revocation and of the
 * issuance limit. A non-empty string or a finite number (turned into a string) is an id; anything
 * else means the token names no user, and the ticket endpoint refuses it (401 `bearer_invalid`).
 */
export type WsTicketUserIdOf = (claims: WsTicketClaims) => string | number | undefined;

/**
 * Decides whether a handshake `Origin` may connect. `origin` is `undefined` when the client sent
 * none (non-browser clients). Anything but `true` refuses (`origin_forbidden`); a throw is a
 * failure, as for `resolveUser`: the handshake is answered `store_unavailable` (retried by clients)
 * and the error logged with its stack.
 */
export type WsTicketOriginCheck = (origin: string | undefined) => boolean | Promise<boolean>;

/** Ties a ticket to the client that requested it. Both checks are off by default. */
export interface WsTicketBindOptions {
  /**
   * The handshake must come from the IP address that requested the ticket. Breaks clients whose
   * address changes between the two requests (mobile networks, some corporate proxies).
   * @default false
   */
  ip?: boolean | undefined;
  /**
   * The handshake must carry the `User-Agent` that requested the ticket.
   * @default false
   */
  userAgent?: boolean | undefined;
  /**
   * The reverse proxies in front of the app, for `ip`. The client address is then the right-most
   * `X-Forwarded-For` entry that none of them wrote (entries further left are written by the client
   * and never read), derived the same way for the ticket request and the handshake on Express,
   * Fastify and raw ws, whatever the HTTP framework's own `trust proxy` setting is.
   * - a number: how many proxies stand between clients and the app (`1` for nginx or an AWS ALB
   *   alone, `2` for Cloudflare in front of nginx). The app must be reachable only through them.
   * - a list of the proxies' addresses and CIDR ranges, or `'loopback'`, `'linklocal'`,
   *   `'uniquelocal'`: hops from other addresses are never trusted, so a client that reaches the
   *   app directly is bound to its own address.
   *
   * The proxies must append to `X-Forwarded-For` (nginx `$proxy_add_x_forwarded_for`, ALB,
   * Cloudflare do). Without this option `ip` compares the TCP peer address on both sides.
   * @default undefined (no proxy: the TCP peer address)
   */
  trustedProxies?: WsTicketTrustedProxies | undefined;
}

/**
 * Which hops in front of the app may write `X-Forwarded-For` (`bind.trustedProxies`): a hop count
 * from 1 to 16, or the proxies' addresses, CIDR ranges (`'10.0.0.0/8'`, `'fd00::/8'`) and the names
 * `'loopback'`, `'linklocal'`, `'uniquelocal'`.
 */
export type WsTicketTrustedProxies = number | readonly string[];

/** Per-user limit on ticket issuance. */
export interface WsTicketIssueLimit {
  /**
   * Tickets one user (`sub`) may obtain per window.
   * @default 60
   */
  limit?: number | undefined;
  /**
   * Window length, in seconds.
   * @default 60
   */
  window?: number | undefined;
}

/**
 * Options of `WsTicketModule.forRoot()` and the factory of `forRootAsync()`; the room options
 * (`rooms`, `maxRoomsPerSocket`, `roomJoinLimit`) are documented in {@link WsTicketRoomOptions}.
 */
export interface WsTicketModuleOptions<TUser = unknown> extends WsTicketRoomOptions<TUser> {
  /**
   * How bearer tokens are verified at the built-in ticket endpoint (and by
   * `WsTicketBearerVerifier`, `WsTicketService.verifyBearer()` / `issueForBearer()`): one key
   * source (`secret`, `publicKey`, `service` or `jwks`), or a list of up to 16 sources chosen by
   * each token's `iss` claim (the app's own HS256 tokens beside an identity provider's JWKS, say).
   * In a list every source names its `issuer`, except at most one, which takes the tokens whose
   * `iss` no other source names; a token of any other issuer is refused with 401
   * `bearer_invalid`. Required while the endpoint is mounted: the app fails at startup without it.
   * With `controller: false` it may be left out, when your own controller authenticates requests
   * (Passport, sessions) and calls `WsTicketService.issue()`.
   * @default undefined (no bearer verification)
   */
  jwt?: WsTicketJwtOptions | readonly WsTicketJwtOptions[] | undefined;
  /**
   * Loads the user behind verified claims. Called when a ticket is issued (a refusal answers 401)
   * and again when it is consumed at connect time (a refusal is `user_rejected`), so a user
   * deactivated in between cannot connect. Refusal is a value, failure is an exception:
   * - return `undefined`, `null` or `false` to refuse: 401 `user_rejected` at the endpoint,
   *   `user_rejected` at the handshake, on which the client helper stops for good;
   * - throw when you cannot answer (the user database is down): the endpoint answers 503
   *   `store_unavailable` with `Retry-After` and the handshake `store_unavailable`, both retried by
   *   clients. The error is logged with its stack (the first each minute, then a count) and never
   *   reaches the client. A call slower than `callbackTimeout` is answered the same way.
   *
   * A thrown `WsTicketError` passes as is: `WsTicketError('user_rejected')` refuses as `null` does.
   * @default (claims) => claims
   */
  resolveUser?: WsTicketResolveUser<TUser> | undefined;
  /**
   * Reads the user id from verified claims (see {@link WsTicketUserIdOf}). Tokens that name no user
   * are refused at the ticket endpoint with 401 `bearer_invalid`.
   * @default the `sub` claim, when it is a non-empty string or a finite number
   */
  getUserId?: WsTicketUserIdOf | undefined;
  /**
   * Upper bound on one call of `resolveUser` or of an `allowedOrigins` function, in milliseconds.
   * A slower call is abandoned: the ticket endpoint answers 503 and the handshake
   * `store_unavailable` (both retried by clients), so no request waits on the app's backend longer
   * than this.
   * @default 5000
   */
  callbackTimeout?: number | undefined;
  /**
   * Ticket lifetime, in seconds. Keep it short: a ticket only has to survive the round trip
   * between fetching it and opening the socket.
   * @default 30
   */
  ttl?: number | undefined;
  /**
   * Key of the Socket.IO handshake `auth` payload, and name of the query parameter, that carry the
   * ticket. The `auth` payload wins when both are present.
   * @default 'uuid'
   */
  param?: string | undefined;
  /**
   * Where tickets live. By default the module uses the app's `CacheModule` when one of its stores
   * is Redis (`@keyv/redis`; the CacheModule must be visible to this module: `isGlobal`, or in
   * `forRootAsync({ imports })`), and a process-local memory store otherwise (the choice is logged
   * at startup). Pass a `RedisTicketStore` (or any `TicketStore`) to choose explicitly.
   * @default derived from the app's CACHE_MANAGER, else `new MemoryTicketStore()`
   */
  store?: TicketStore | undefined;
  /**
   * Prefix of every ticket key in the store. Keys are `${keyPrefix}${sha256(ticket)}`: the ticket
   * itself is never stored.
   * @default 'ws-ticket:'
   */
  keyPrefix?: string | undefined;
  /**
   * Upper bound on one store operation, in milliseconds. A slower store counts as unavailable
   * (`store_unavailable`, HTTP 503), so no client waits longer than this on the store.
   * @default 2000
   */
  storeTimeout?: number | undefined;
  /**
   * Close sockets when the session behind them ends: at the bearer JWT's `exp` the server emits
   * `unauthorized` `{ code: 'session_expired' }` and disconnects the socket. A ticket whose
   * session already ended is refused with `session_expired`.
   * @default true
   */
  closeOnSessionEnd?: boolean | undefined;
  /**
   * How long before a socket's session ends the server asks the client to refresh it, in seconds:
   * it emits `ws-ticket:expiring` `{ expiresAt }` (epoch milliseconds; a raw WebSocket gets the
   * frame `{"event":"ws-ticket:expiring","data":{"expiresAt":…}}`). The client answers with
   * `ws-ticket:refresh` `{ uuid }` and a fresh ticket, which moves the session's end to its JWT's
   * `exp` without a reconnect (the whole connection: every namespace multiplexed on it). When less
   * than this is left (a short-lived JWT, or a socket opened late in its token's life), the event
   * comes halfway through the time left, so that short sessions are refreshed at a steady pace,
   * never in a loop. Sent once per session end, only with `closeOnSessionEnd`. `0` sends no event
   * (clients may still refresh on their own). A refresh is accepted whatever this is.
   * @default 60
   */
  refreshWindow?: number | undefined;
  /**
   * Origins allowed to open sockets (exact `scheme://host[:port]` strings), or a function.
   * Handshakes from other origins are refused with `origin_forbidden` before the ticket is looked
   * at. Handshakes without an `Origin` header (non-browser clients) pass a list check; a function
   * sees `undefined` and decides. Unset: any origin (tickets are not ambient credentials like
   * cookies, so a foreign page cannot obtain one; set this anyway as defence in depth). A function
   * that throws or is slower than `callbackTimeout` fails the handshake with `store_unavailable`.
   * @default undefined (no origin check)
   */
  allowedOrigins?: readonly string[] | WsTicketOriginCheck | undefined;
  /**
   * Bind tickets to the requesting client's IP address and/or user agent; a mismatch is
   * `ticket_binding_mismatch` (and the ticket is spent).
   * @default {} (no binding)
   */
  bind?: WsTicketBindOptions | undefined;
  /**
   * Per-user issuance limit, counted in the ticket store (so it holds across instances on a shared
   * store). Beyond it the endpoint answers 429 with `Retry-After`. `false` disables it.
   * @default { limit: 60, window: 60 }
   */
  issueLimit?: WsTicketIssueLimit | false | undefined;
  /**
   * Most connections one user may hold open at once, counted in the ticket store (exact across
   * instances sharing a store such as `RedisTicketStore`; per process with the memory store). A
   * Socket.IO connection counts once whatever namespaces it multiplexes; a raw WebSocket counts
   * once. A handshake over it answers `connection_limit` or closes the oldest connection
   * (`onConnectionLimit`). A disconnect, `disconnectUser()` and a session's end give the slot back
   * at once; a crashed instance's slots within `connectionLease`. Enforced by `WsTicketIoAdapter`
   * and `WsTicketWsAdapter` (not in guard-only apps). `0` or `false` switches it off: then nothing
   * is counted and handshakes make no store call for it.
   * @default 50
   */
  maxConnectionsPerUser?: number | false | undefined;
  /**
   * What a handshake over `maxConnectionsPerUser` does. `'refuse'`: it is refused with
   * `connection_limit` (Socket.IO `connect_error`; raw WebSocket HTTP 429 `{ "code":
   * "connection_limit" }`); its ticket is spent and the user's other connections are untouched.
   * `'close-oldest'`: it is accepted, and the user's oldest connection receives `unauthorized`
   * `{ code: 'connection_limit' }` and is closed (raw WebSocket: close code 4409). An oldest
   * connection on another instance is closed by that instance at once through a Socket.IO adapter
   * that spans instances, otherwise at its next lease renewal (within a third of
   * `connectionLease`).
   * @default 'refuse'
   */
  onConnectionLimit?: WsTicketConnectionLimitAction | undefined;
  /**
   * How long a connection's slot (`maxConnectionsPerUser`) outlives its last renewal, in seconds.
   * Each instance renews its open connections' slots every third of this, one store call per user;
   * an instance that dies without closing its connections (a crash, `SIGKILL`) holds their slots
   * until this has passed. Shorter frees a crashed instance's slots sooner and renews more often.
   * From 1 to 86400 (a day); shorter than three `storeTimeout`s logs a warning at startup.
   * @default 60
   */
  connectionLease?: number | undefined;
  /**
   * The app authenticates Socket.IO connections with `WsTicketGuard` alone, on purpose (plain
   * `IoAdapter`, no `WsTicketIoAdapter`): silences the startup warning about gateways running
   * without a ticket adapter. In that mode any client may connect and only guarded handlers check
   * tickets, and there is no session expiry nor per-user room. It does not silence the warning for
   * Nest's raw `WsAdapter`, under which the guard cannot read any ticket (use `WsTicketWsAdapter`).
   * @default false
   */
  guardOnly?: boolean | undefined;
  /**
   * Record metrics and spans with OpenTelemetry (`@opentelemetry/api`, an optional peer): the
   * `WS_TICKET_METRICS` instruments and one span per ticket issue, handshake and refresh, through
   * the global providers an OpenTelemetry SDK registers (no-ops without one). Unset: on when
   * `@opentelemetry/api` is installed. `true`: the app fails to start without it. `false`: off
   * (the `node:diagnostics_channel` events of `WS_TICKET_CHANNELS` are published either way, to
   * their subscribers).
   * @default undefined (on when `@opentelemetry/api` is installed)
   */
  openTelemetry?: boolean | undefined;
}

/**
 * What a handshake over `maxConnectionsPerUser` does: refuse it (`connection_limit`), or accept it
 * and close the user's oldest connection.
 */
export type WsTicketConnectionLimitAction = 'refuse' | 'close-oldest';

/**
 * Static options of the module, read when the module is assembled (before any async factory runs),
 * so they are passed beside `useFactory` in `forRootAsync()` and alongside the others in `forRoot()`.
 */
export interface WsTicketModuleExtras {
  /**
   * Register the module globally, so that `WsTicketService` and `WsTicketGuard` are injectable in
   * every module (as `ThrottlerModule` is). With `false`, only modules that import the module
   * holding `WsTicketModule.forRoot…()` (re-exported) may use them.
   * @default true
   */
  isGlobal?: boolean | undefined;
  /**
   * Route of the built-in ticket endpoint, relative to the app's global prefix.
   * @default 'auth/ws-ticket'
   */
  path?: string | undefined;
  /**
   * Mount the built-in ticket endpoint. Set `false` to expose `WsTicketService.issue()` behind your
   * own controller and guards instead.
   * @default true
   */
  controller?: boolean | undefined;
  /**
   * Decorators applied to the built-in endpoint's controller class, as with `applyDecorators()`:
   * `SkipThrottle()` from `@nestjs/throttler`, a `Public()` made with `SetMetadata` for an app-wide
   * auth guard, Swagger's `ApiTags()` / `ApiResponse()`. Decorators that Nest reads per handler
   * (guards, throttling, metadata) see them on the class, as `Reflector.getAllAndOverride()` does.
   * Ignored with `controller: false`.
   * @default [] (none)
   */
  controllerDecorators?: readonly ClassDecorator[] | undefined;
}

/**
 * Options of `WsTicketModule.forRoot()`: the module options and the static extras
 * (`isGlobal`, `path`, `controller`, `controllerDecorators`) side by side.
 */
export type WsTicketModuleRootOptions<TUser = unknown> = WsTicketModuleOptions<TUser> &
  WsTicketModuleExtras;

/**
 * A class that builds the module options, for `forRootAsync({ useClass })` or
 * `forRootAsync({ useExisting })`, as `JwtOptionsFactory` is for `JwtModule`.
 *
 * ```ts
 * @Injectable()
 * class WsTicketConfig implements WsTicketOptionsFactory {
 *   constructor(private readonly config: ConfigService) {}
 *   createWsTicketOptions(): WsTicketModuleOptions {
 *     return { jwt: { secret: this.config.getOrThrow('JWT_SECRET') } };
 *   }
 * }
 * ```
 */
export interface WsTicketOptionsFactory<TUser = unknown> {
  /**
   * Returns the module options. Static extras (`isGlobal`, `path`, `controller`,
   * `controllerDecorators`) returned here are a startup error: pass them beside `useClass`.
   */
  createWsTicketOptions(): WsTicketModuleOptions<TUser> | Promise<WsTicketModuleOptions<TUser>>;
}

/**
 * Options of `WsTicketModule.forRootAsync()`: one of `useFactory` (with `inject` and `imports`),
 * `useClass` or `useExisting` (a {@link WsTicketOptionsFactory}), and the static extras beside it,
 * which are read when the module is assembled, before any factory runs.
 */
export interface WsTicketModuleAsyncOptions<TUser = unknown>
  extends ConfigurableModuleAsyncOptions<WsTicketModuleOptions<TUser>, 'createWsTicketOptions'>,
    WsTicketModuleExtras {}
