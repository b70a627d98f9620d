import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { EMPTY, type Observable } from 'rxjs';
import type {
  ServerOptions,
  VerifyClientCallbackAsync,
  VerifyClientCallbackSync,
  WebSocket,
  WebSocketServer,
} from 'ws';
import { queryOf } from './internal/http.js';
import { wsMaxPayload } from './internal/options.js';
import { UserConnections } from './session/user-connections.js';
import type { WsTicketSession } from './session/ws-ticket-session.types.js';
import { DEFAULT_WS_MAX_PAYLOAD } from './ws-ticket.constants.js';
import { WsTicketError, WsTicketErrorCode } from './ws-ticket.errors.js';
import { WsTicketService } from './ws-ticket.service.js';
import type { WsTicketHandshake } from './ws-ticket.types.js';
import { scheduleSessionEnd, type WsTicketSocketData } from './ws-ticket-session.js';

/**
 * Marker subprotocol of the `Sec-WebSocket-Protocol` scheme. A client that carries its ticket in
 * the header offers it next to the ticket entry, so that the server always has a protocol it may
 * echo (browsers and `ws` fail a connection that offered protocols and got none back).
 */
export const WS_TICKET_PROTOCOL = 'ws-ticket';

/** Prefix of the subprotocol entry carrying the ticket: `ws-ticket.<uuid>`. */
export const WS_TICKET_PROTOCOL_PREFIX = `${WS_TICKET_PROTOCOL}.`;

/**
 * HTTP status answering a refused upgrade, by refusal code: 401 for ticket problems, 403 for
 * origin or binding refusals and for a user revoked during the upgrade, 503 when the store is down.
 * Any other code is answered 401.
 */
export const WS_TICKET_REFUSAL_STATUS = {
  ticket_missing: 401,
  ticket_malformed: 401,
  ticket_invalid: 401,
  user_rejected: 401,
  session_expired: 401,
  origin_forbidden: 403,
  ticket_binding_mismatch: 403,
  user_revoked: 403,
  store_unavailable: 503,
} as const satisfies Partial<Record<WsTicketErrorCode, 401 | 403 | 503>>;

/**
 * WebSocket close code (RFC 6455 private range 4000-4999) the server closes a socket with, by code:
 * 4000 + the HTTP status the same code gets elsewhere (a refused upgrade, or 429 at the ticket
 * endpoint), so that `session_expired` is 4001 ("authenticate again": fetch a new ticket after a new
 * login) and `user_revoked` is 4003 ("forbidden": do not reconnect on your own). The close reason is
 * the code string itself. The adapter only closes with `session_expired` on its own; the other codes
 * come from `WsTicketService.disconnectUser(userId, code)`.
 */
export const WS_TICKET_CLOSE_CODES = {
  ticket_missing: 4001,
  ticket_malformed: 4001,
  ticket_invalid: 4001,
  user_rejected: 4001,
  session_expired: 4001,
  origin_forbidden: 4003,
  ticket_binding_mismatch: 4003,
  user_revoked: 4003,
  rate_limited: 4429,
  store_unavailable: 4503,
} as const satisfies Record<WsTicketErrorCode, number>;

/** Close code for a code missing from {@link WS_TICKET_CLOSE_CODES} (a plain-JS caller's string). */
const FALLBACK_CLOSE_CODE = 4000;

/**
 * A `ws` socket accepted by {@link WsTicketWsAdapter}. Type a gateway's `@ConnectedSocket()` with it;
 * `@WsUser()` and `WsTicketGuard` read the same `data.user`.
 */
export type WsTicketWebSocket<TUser = unknown> = WebSocket & { data: WsTicketSocketData<TUser> };

/**
 * What {@link WsTicketWsAdapter} hands to `WsTicketService.consume()` for one upgrade: the ticket
 * sources in Socket.IO's shape (the `Sec-WebSocket-Protocol` ticket as `auth[param]`, the URL query
 * as `query`) plus the request facts a binding check may need.
 */
export interface WsTicketUpgradeHandshake extends WsTicketHandshake {
  /** Request headers of the upgrade. */
  headers: IncomingHttpHeaders;
  /** Remote address of the TCP connection. */
  address: string | undefined;
  /** Whether the upgrade arrived over TLS. */
  secure: boolean;
}

type NestWsAdapterOptions = NonNullable<ConstructorParameters<typeof WsAdapter>[1]>;

/** Options of {@link WsTicketWsAdapter}: Nest's `WsAdapter` options (passed through), plus its own. */
export interface WsTicketWsAdapterOptions extends NestWsAdapterOptions {
  /**
   * Largest message a client may send, in bytes, on every gateway server of this adapter (the `ws`
   * option of that name, whose own default is 100 MiB). A longer message closes its socket with 1009
   * ("message too big") and never reaches a handler; a single frame is refused from its header,
   * before its payload is read. A gateway's own `@WebSocketGateway({ maxPayload })` wins over this.
   * A whole number from 1 to 2^31 − 1; anything else throws here.
   * @default 1_048_576 (1 MiB, as Socket.IO's `maxHttpBufferSize`)
   */
  maxPayload?: number;
}

type VerifyClient = VerifyClientCallbackAsync | VerifyClientCallbackSync;
type VerifyCallback = Parameters<VerifyClientCallbackAsync>[1];
type VerifyInfo = Parameters<VerifyClientCallbackAsync>[0];
type HandleProtocols = NonNullable<ServerOptions['handleProtocols']>;
type GatewayServerOptions = Record<string, unknown> & {
  namespace?: string;
  server?: unknown;
  path?: string;
  maxPayload?: number;
  verifyClient?: VerifyClient;
  handleProtocols?: HandleProtocols;
};

const JSON_REFUSAL_HEADERS = {
  'Content-Type': 'application/json; charset=utf-8',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
};

/**
 * Raw WebSocket (`@nestjs/platform-ws`) adapter that authenticates the HTTP upgrade before the
 * WebSocket is accepted. The ticket comes from `?<param>=` or from the `Sec-WebSocket-Protocol`
 * scheme (`['ws-ticket', 'ws-ticket.<uuid>']`, an app subprotocol may be offered too); on success
 * `client.data.user` holds the resolved user, so `@WsUser()` and `WsTicketGuard` work unchanged.
 * A refusal answers the upgrade with 401, 403 or 503 and a JSON body `{ "code": "…" }`.
 * Messages over `maxPayload` (1 MiB unless set) close their socket with 1009.
 *
 * Accepted sockets are closed with 4001 `session_expired` when their session ends
 * (`closeOnSessionEnd`), and by `WsTicketService.disconnectUser()` with the code's
 * {@link WS_TICKET_CLOSE_CODES} entry; that reaches the sockets of this process only.
 *
 * ```ts
 * app.useWebSocketAdapter(new WsTicketWsAdapter(app));
 * ```
 */
export class WsTicketWsAdapter extends WsAdapter {
  private tickets: WsTicketService | undefined;
  /** Sessions of upgrades that passed `verifyClient`, until their `connection` event. */
  private readonly accepted = new WeakMap<IncomingMessage, WsTicketSession>();
  /** Open sockets by user id, across every gateway of this adapter; emptied as sockets close. */
  private readonly sockets = new UserConnections<WebSocket>();
  private unregister: (() => void) | undefined;
  /** `maxPayload` of a gateway server whose gateway sets none, in bytes. */
  private readonly maxPayload: number;

  constructor(
    protected readonly app: INestApplicationContext,
    options?: WsTicketWsAdapterOptions,
  ) {
    super(app, options);
    this.maxPayload = wsMaxPayload(options?.maxPayload ?? DEFAULT_WS_MAX_PAYLOAD);
  }

  override create(port: number, options: GatewayServerOptions = {}): WebSocketServer {
    // Resolve the service now (a missing WsTicketModule fails at boot, not on the first client)
    // and join disconnectUser once for all of this adapter's gateways.
    this.unregister ??= this.service().registerConnections({
      disconnectUser: (userId, code) => this.disconnectUser(userId, code),
    });
    const { verifyClient, handleProtocols } = options;
    const server: WebSocketServer = super.create(port, {
      ...options,
      // Every way Nest builds a gateway server (shared HTTP server by path, own port, own port with
      // paths) spreads these options into `new WebSocketServer()`. An oversized message makes ws
      // emit 'error' on the socket (Nest's WsAdapter listens: no crash) and close it with 1009,
      // which leaves our registry and session timer like any close.
      maxPayload: options.maxPayload ?? this.maxPayload,
      // verifyClient runs inside ws's handleUpgrade whichever way Nest routes the upgrade (shared
      // HTTP server by path, or a gateway on its own port), before the 101 is written.
      verifyClient: (info: VerifyInfo, callback: VerifyCallback) =>
        this.verifyClient(info, callback, verifyClient),
      handleProtocols: (protocols: Set<string>, request: IncomingMessage) =>
        selectProtocol(protocols, request, handleProtocols),
    });
    // Registered before Nest binds the gateway's connection handler, so `data.user` is set
    // before handleConnection and any message handler run.
    server.on('connection', (client: WebSocket, request: IncomingMessage) => {
      if (!this.accepted.has(request)) {
        client.terminate();
        return;
      }
      const session = this.accepted.get(request) as WsTicketSession;
      this.accepted.delete(request);
      this.attach(client, session, request);
    });
    return server;
  }

  /** Nest calls it on shutdown, after `close()` of every gateway server. */
  override async dispose(): Promise<void> {
    this.unregister?.();
    this.unregister = undefined;
    return super.dispose();
  }

  /**
   * A socket the server is closing (session end, revocation) runs no handler for the frames that
   * still arrive during the close handshake, as a disconnected Socket.IO socket runs none.
   */
  override bindMessageHandlers(
    client: WebSocket,
    handlers: MessageMappingProperties[],
    transform: (data: unknown) => Observable<unknown>,
  ): void {
    super.bindMessageHandlers(
      client,
      handlers.map((handler) => ({
        ...handler,
        callback: (...args: unknown[]) =>
          client.readyState === client.OPEN ? handler.callback(...args) : EMPTY,
      })),
      transform,
    );
  }

  /**
   * Authenticates one upgrade request and resolves the user, or throws a `WsTicketError`.
   * Override to add checks; call `super` first.
   */
  protected async authenticate(request: IncomingMessage): Promise<WsTicketSession> {
    const handshake = this.handshakeOf(request);
    return this.service().consumeSession(this.service().ticketFrom(handshake), handshake);
  }

  /**
   * Authenticates an upgrade, then makes the last revocation check (another instance may have
   * revoked the user while `resolveUser` ran); this process's revocations are checked again when
   * the socket is attached.
   */
  private async admit(request: IncomingMessage): Promise<WsTicketSession> {
    const session = await this.authenticate(request);
    await this.service().confirmSession(session);
    return session;
  }

  /**
   * Gives an accepted socket its per-connection state: `data`, its place among its user's sockets
   * (for `disconnectUser`) and its session-end timer, both dropped when it closes. Override to hang
   * more on it; call `super` first.
   */
  protected attach(client: WebSocket, session: WsTicketSession, _request: IncomingMessage): void {
    const { user, userId, sessionExpiresAt } = session;
    (client as WsTicketWebSocket).data = { user, userId, sessionExpiresAt };
    this.sockets.add(userId, client);
    // Findable by disconnectUser from here on; a revocation since the upgrade began closes it now.
    if (this.service().isSessionRevoked(session)) {
      this.closeWith(client, WsTicketErrorCode.USER_REVOKED);
      return;
    }
    if (typeof sessionExpiresAt === 'number' && this.service().closeOnSessionEnd) {
      const cancel = scheduleSessionEnd(sessionExpiresAt, () =>
        this.closeWith(client, WsTicketErrorCode.SESSION_EXPIRED),
      );
      client.once('close', cancel);
    }
  }

  /** WebSocket close code for a code. Override to change {@link WS_TICKET_CLOSE_CODES}. */
  protected closeCodeFor(code: string): number {
    return (WS_TICKET_CLOSE_CODES as Record<string, number>)[code] ?? FALLBACK_CLOSE_CODE;
  }

  /** HTTP status for a refusal code. Override to change the mapping. */
  protected statusFor(code: string): number {
    return (WS_TICKET_REFUSAL_STATUS as Record<string, number>)[code] ?? 401;
  }

  /** Builds the handshake `WsTicketService` reads from an upgrade request. */
  protected handshakeOf(request: IncomingMessage): WsTicketUpgradeHandshake {
    const param = this.service().param;
    const protocolTickets = ticketEntries(request);
    if (protocolTickets.length > 0 && !offeredProtocols(request).includes(WS_TICKET_PROTOCOL)) {
      // Without the marker the server could echo no protocol but the ticket entry itself, and the
      // client would drop the connection after the ticket was spent: refuse before consuming.
      this.service().logRefusal(WsTicketErrorCode.TICKET_MALFORMED);
      throw new WsTicketError(WsTicketErrorCode.TICKET_MALFORMED);
    }
    return {
      // Several ticket entries stay an array, which the service refuses as malformed.
      auth:
        protocolTickets.length === 0
          ? undefined
          : { [param]: protocolTickets.length === 1 ? protocolTickets[0] : protocolTickets },
      query: queryOf(request.url),
      headers: request.headers,
      address: request.socket.remoteAddress,
      secure: Boolean((request.socket as { encrypted?: boolean }).encrypted),
    };
  }

  /** Closes every open socket of the user on this adapter; other users' sockets are untouched. */
  private disconnectUser(userId: string, code: WsTicketErrorCode): void {
    for (const client of this.sockets.of(userId)) this.closeWith(client, code);
  }

  private closeWith(client: WebSocket, code: WsTicketErrorCode): void {
    // The reason is the code string: well under the 123-byte limit of a close reason.
    client.close(this.closeCodeFor(code), code);
  }

  private verifyClient(info: VerifyInfo, callback: VerifyCallback, own?: VerifyClient): void {
    // The gateway's own verifyClient (if any) runs first: a request it refuses spends no ticket.
    runOwnVerifyClient(own, info, (verified, code, message, headers) => {
      if (!verified) {
        callback(false, code, message, headers);
        return;
      }
      this.admit(info.req).then(
        (session) => {
          this.accepted.set(info.req, session);
          callback(true);
        },
        (error: unknown) => this.refuse(error, callback),
      );
    });
  }

  private refuse(error: unknown, callback: VerifyCallback): void {
    if (error instanceof WsTicketError) {
      callback(
        false,
        this.statusFor(error.code),
        JSON.stringify({ code: error.code }),
        JSON_REFUSAL_HEADERS,
      );
      return;
    }
    this.service().logFailure('WebSocket upgrade authentication failed', error);
    callback(false, 500);
  }

  private service(): WsTicketService {
    if (this.tickets) return this.tickets;
    try {
      this.tickets = this.app.get(WsTicketService, { strict: false }) ?? undefined;
    } catch {
      // app.get throws when the provider is absent: answered by the clearer error below.
    }
    if (!this.tickets) {
      throw new Error('WsTicketWsAdapter: WsTicketService not found; import WsTicketModule.');
    }
    return this.tickets;
  }
}

/** The subprotocols the client offered, in order (ws has already validated the header). */
function offeredProtocols(request: IncomingMessage): string[] {
  const header = request.headers['sec-websocket-protocol'];
  if (typeof header !== 'string' || header === '') return [];
  return header.split(',').map((protocol) => protocol.trim());
}

function ticketEntries(request: IncomingMessage): string[] {
  return offeredProtocols(request)
    .filter((protocol) => protocol.startsWith(WS_TICKET_PROTOCOL_PREFIX))
    .map((protocol) => protocol.slice(WS_TICKET_PROTOCOL_PREFIX.length));
}

/**
 * Picks the subprotocol to echo: the ticket entries are never seen by the app nor echoed; the app's
 * choice (or ws's default, the first offered) among the real ones; the marker when the client
 * offered nothing else.
 */
function selectProtocol(
  protocols: Set<string>,
  request: IncomingMessage,
  own: HandleProtocols | undefined,
): string | false {
  const real = new Set<string>();
  for (const protocol of protocols) {
    if (protocol !== WS_TICKET_PROTOCOL && !protocol.startsWith(WS_TICKET_PROTOCOL_PREFIX)) {
      real.add(protocol);
    }
  }
  if (real.size === 0) return protocols.has(WS_TICKET_PROTOCOL) ? WS_TICKET_PROTOCOL : false;
  if (own) return own(real, request);
  return real.values().next().value ?? false;
}

function runOwnVerifyClient(
  own: VerifyClient | undefined,
  info: VerifyInfo,
  next: VerifyCallback,
): void {
  if (!own) next(true);
  else if (own.length === 2) (own as VerifyClientCallbackAsync)(info, next);
  else next((own as VerifyClientCallbackSync)(info), 401);
}
