import type { IncomingMessage } from 'node:http';
import type { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { MessageMappingProperties } from '@nestjs/websockets';
import { EMPTY, type Observable } from 'rxjs';
import type { VerifyClientCallbackAsync, WebSocket, WebSocketServer } from 'ws';
import { queryOf } from '../internal/http.js';
import { wsMaxPayload } from '../internal/options.js';
import { requireService } from '../internal/require-service.js';
import { withoutReserved } from '../internal/reserved-events.js';
import { admitConnection } from '../session/admission.js';
import { RefusalLog } from '../session/refusal-log.js';
import { UserConnections } from '../session/user-connections.js';
import type { WsTicketSession } from '../session/ws-ticket-session.types.js';
import type { WsTicketSocketPlace } from '../telemetry/ws-ticket-telemetry.js';
import { DEFAULT_WS_MAX_PAYLOAD } from '../ws-ticket.constants.js';
import { WsTicketError, WsTicketErrorCode } from '../ws-ticket.errors.js';
import { WsTicketService } from '../ws-ticket.service.js';
import { WsLiveSessions } from './ws-live-sessions.js';
import { WsRooms } from './ws-rooms.js';
import {
  FALLBACK_CLOSE_CODE,
  offeredProtocols,
  selectProtocol,
  ticketEntries,
  WS_TICKET_CLOSE_CODES,
  WS_TICKET_PROTOCOL,
  WS_TICKET_REFUSAL_STATUS,
} from './ws-ticket-ws.protocol.js';
import {
  JSON_REFUSAL_HEADERS,
  runOwnVerifyClient,
  type VerifyClient,
  WS_ERROR_CODE,
} from './ws-upgrade.js';

export {
  WS_TICKET_CLOSE_CODES,
  WS_TICKET_PROTOCOL,
  WS_TICKET_PROTOCOL_PREFIX,
  WS_TICKET_REFUSAL_STATUS,
} from './ws-ticket-ws.protocol.js';
export type * from './ws-ticket-ws.types.js';

import type {
  WsTicketUpgradeHandshake,
  WsTicketWebSocket,
  WsTicketWsAdapterOptions,
  WsTicketWsGatewayOptions,
} from './ws-ticket-ws.types.js';

type VerifyCallback = Parameters<VerifyClientCallbackAsync>[1];
type VerifyInfo = Parameters<VerifyClientCallbackAsync>[0];

/**
 * Raw WebSocket (`@nestjs/platform-ws`) adapter that authenticates the HTTP upgrade before the
 * WebSocket is accepted. The ticket comes from `?<param>=` or from the `Sec-WebSocket-Protocol`
 * scheme (`['ws-ticket', 'ws-ticket.<uuid>']`, an app subprotocol may be offered too); on success
 * `client.data.user` holds the resolved user, so `@WsUser()` and `WsTicketGuard` work unchanged.
 * A refusal answers the upgrade with 401, 403 or 503 and a JSON body `{ "code": "…" }`; an error
 * that is no `WsTicketError` (thrown by an override…) is logged with its stack and answered 503
 * `{ "code": "store_unavailable" }`.
 * Messages over `maxPayload` (1 MiB unless set) close their socket with 1009.
 *
 * Accepted sockets may join rooms (`ws-ticket:join` frames, decided by `WsTicketRooms`' rules),
 * which the adapter keeps, since Nest's `WsAdapter` has none.
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
  /** When each upgrade's authentication began (`performance.now()`), for the module's events. */
  private readonly started = new WeakMap<IncomingMessage, number>();
  /** Open sockets by user id, across every gateway of this adapter; emptied as sockets close. */
  private readonly sockets = new UserConnections<WebSocket>();
  /** Accepted sockets by their TCP connection, whose close gives a connection slot back. */
  private readonly byConnection = new WeakMap<object, WebSocket>();
  private unregister: (() => void) | undefined;
  /** `maxPayload` of a gateway server whose gateway sets none, in bytes. */
  private readonly maxPayload: number;
  /** Upgrade failures that are no refusal (an override that threw), logged with their stack. */
  private readonly failures = new RefusalLog();
  /** Session ends, `ws-ticket:expiring` and `ws-ticket:refresh` of accepted sockets. */
  private readonly live = new WsLiveSessions(() => this.service(), this.failures, {
    close: (client, code) => this.closeWith(client, code),
    authorize: (client, next, previous) => this.authorizeRefresh(client, next, previous),
    room: (client, event, payload) => this.rooms.request(client, event, payload),
    refreshed: (client) => void this.rooms.recheck(client, 'refresh'),
  });
  /** The rooms of this adapter's sockets (`ws-ticket:join`, `WsTicketRooms`). */
  private readonly rooms = new WsRooms(() => this.app, {
    socketsOf: (userId) => this.sockets.of(userId),
    pathOf: (client) => this.live.pathOf(client),
  });
  /** Gateway handlers of reserved events already warned about. */
  private readonly reservedWarned = new Set<string>();

  constructor(
    protected readonly app: INestApplicationContext,
    options?: WsTicketWsAdapterOptions,
  ) {
    super(app, options);
    this.maxPayload = wsMaxPayload(options?.maxPayload ?? DEFAULT_WS_MAX_PAYLOAD);
  }

  override create(port: number, options: WsTicketWsGatewayOptions = {}): WebSocketServer {
    // Resolve the service now (a missing WsTicketModule fails at boot, not on the first client)
    // and join disconnectUser once for all of this adapter's gateways.
    if (!this.unregister) {
      const connections = this.service().registerConnections({
        disconnectUser: (userId, code) => this.disconnectUser(userId, code),
      });
      const rooms = this.rooms.listen();
      this.unregister = () => {
        connections();
        rooms();
      };
    }
    const { verifyClient, handleProtocols } = options;
    // The gateway's own path, never the request's: an event must not carry what a client chose.
    const place: WsTicketSocketPlace = { transport: 'ws', namespace: options.path ?? '/' };
    const server: WebSocketServer = super.create(port, {
      ...options,
      // Every way Nest builds a gateway server (shared HTTP server by path, own port, own port with
      // paths) spreads these options into `new WebSocketServer()`. An oversized message makes ws
      // emit 'error' on the socket (bindErrorHandler below listens: no crash) and close it with
      // 1009, which leaves our registry and session timer like any close.
      maxPayload: options.maxPayload ?? this.maxPayload,
      // verifyClient runs inside ws's handleUpgrade whichever way Nest routes the upgrade (shared
      // HTTP server by path, or a gateway on its own port), before the 101 is written.
      verifyClient: (info: VerifyInfo, callback: VerifyCallback) =>
        this.verifyClient(info, callback, place, verifyClient),
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
      const startedAt = this.started.get(request) ?? performance.now();
      const { telemetry } = this.service();
      let code: WsTicketErrorCode | undefined;
      try {
        this.attach(client, session, request);
        if (!this.live.has(client)) code = WsTicketErrorCode.USER_REVOKED;
      } catch (error) {
        // An override's refusal closes with its code; any other error is a failure, logged with
        // its stack and closed 4503 store_unavailable. The close gives the connection slot back.
        code = this.failures.coded('WebSocket attach() failed', error).code;
        this.closeWith(client, code);
      }
      if (code === undefined) {
        this.live.accepted(client, place);
        telemetry.accepted(session.userId, place, startedAt);
      } else telemetry.refused('handshake', code, place, startedAt);
    });
    return server;
  }

  /**
   * A socket's own errors (a message over `maxPayload`, invalid UTF-8 or framing; `ws` closes the
   * socket with 1009, 1007 or 1002) are the client's doing: they go to the module's throttled log
   * under `ws`'s error code, instead of one ERROR line with a stack per message as Nest's `WsAdapter`
   * writes. Errors of the server itself are still logged as errors.
   */
  override bindErrorHandler(server: WebSocketServer): WebSocketServer {
    server.on('connection', (client: WebSocket) =>
      client.on('error', (error: Error & { code?: unknown }) => {
        const code = typeof error?.code === 'string' && WS_ERROR_CODE.test(error.code);
        this.service().logFailure(
          `WebSocket closed on a client protocol error (${code ? error.code : 'unknown'})`,
          error,
        );
      }),
    );
    server.on('error', (error: Error) => this.logger.error(error));
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
   * still arrive during the close handshake, as a disconnected Socket.IO socket runs none. Frames
   * of the module's events (`ws-ticket:*`) never reach a gateway handler: `ws-ticket:refresh` is
   * answered by the adapter, a handler for one is never called (said once in a warning).
   */
  override bindMessageHandlers(
    client: WebSocket,
    handlers: MessageMappingProperties[],
    transform: (data: unknown) => Observable<unknown>,
  ): void {
    super.bindMessageHandlers(
      client,
      withoutReserved(handlers, this.reservedWarned).map((handler) => ({
        ...handler,
        callback: (...args: unknown[]) =>
          client.readyState === client.OPEN ? handler.callback(...args) : EMPTY,
      })),
      transform,
    );
  }

  /**
   * Authenticates one upgrade request and resolves the user, or throws a `WsTicketError`.
   * Override to add checks; call `super` first. Any other error is a failure (logged,
   * `store_unavailable`).
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
    // The revocation check and the connection cap; the slot goes with the TCP connection.
    const connection = request.socket;
    await admitConnection(
      this.service(),
      session,
      connection,
      () => !connection.destroyed,
      (code) => {
        const client = this.byConnection.get(connection);
        if (client) this.closeWith(client, code);
        else connection.destroy();
      },
    );
    return session;
  }

  /**
   * Gives an accepted socket its per-connection state: `data`, its place among its user's sockets
   * (for `disconnectUser`) and its session-end timer, both dropped when it closes. Override to hang
   * more on it; call `super` first.
   */
  protected attach(client: WebSocket, session: WsTicketSession, request: IncomingMessage): void {
    const { user, userId, sessionExpiresAt } = session;
    (client as WsTicketWebSocket).data = { user, userId, sessionExpiresAt };
    this.sockets.add(userId, client);
    this.byConnection.set(request.socket, client);
    client.once('close', () => this.rooms.closed(client));
    // Findable by disconnectUser from here on; a revocation since the upgrade began closes it now.
    if (this.service().isSessionRevoked(session)) {
      this.closeWith(client, WsTicketErrorCode.USER_REVOKED);
      return;
    }
    // A refresh is checked (origin, binding) against the upgrade's own facts.
    this.live.start(client, session, {
      headers: request.headers,
      address: request.socket.remoteAddress,
    });
  }

  /**
   * Runs before a live session refresh (`ws-ticket:refresh`) is applied to a socket, with the new
   * session (its user re-resolved) and the one it replaces. Override it to re-derive what your app
   * built from the user when the socket connected: a refresh keeps the socket, so
   * `handleConnection` does not run again. Throw a `WsTicketError` to refuse the refresh with its
   * code (the socket keeps its old session and end); any other error, or no answer within
   * `callbackTimeout`, is a failure: logged with its stack, answered `store_unavailable`. The
   * default does nothing.
   */
  protected async authorizeRefresh(
    _client: WebSocket,
    _session: WsTicketSession,
    _previous: WsTicketSession,
  ): Promise<void> {}

  /** WebSocket close code for a code. Override to change {@link WS_TICKET_CLOSE_CODES}. */
  protected closeCodeFor(code: string): number {
    // Own keys only: `constructor` or `toString` (plain JavaScript, another instance) are unknown.
    return Object.hasOwn(WS_TICKET_CLOSE_CODES, code)
      ? (WS_TICKET_CLOSE_CODES as Record<string, number>)[code]
      : FALLBACK_CLOSE_CODE;
  }

  /** HTTP status for a refusal code. Override to change the mapping. */
  protected statusFor(code: string): number {
    return Object.hasOwn(WS_TICKET_REFUSAL_STATUS, code)
      ? (WS_TICKET_REFUSAL_STATUS as Record<string, number>)[code]
      : 401;
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

  /**
   * Closes every open socket of the user on this adapter (other users' are untouched); returns how
   * many.
   */
  private disconnectUser(userId: string, code: WsTicketErrorCode): number {
    // A socket its client is closing already is no longer theirs to lose.
    const sockets = this.sockets.of(userId).filter((client) => client.readyState === client.OPEN);
    for (const client of sockets) this.closeWith(client, code);
    return sockets.length;
  }

  private closeWith(client: WebSocket, code: WsTicketErrorCode): void {
    if (client.readyState !== client.OPEN) return;
    this.live.closing(client, code);
    // The reason is the code string: well under the 123-byte limit of a close reason.
    client.close(this.closeCodeFor(code), code);
  }

  private verifyClient(
    info: VerifyInfo,
    callback: VerifyCallback,
    place: WsTicketSocketPlace,
    own?: VerifyClient,
  ): void {
    // The gateway's own verifyClient (if any) runs first: a request it refuses spends no ticket.
    runOwnVerifyClient(own, info, (verified, code, message, headers) => {
      if (!verified) {
        callback(false, code, message, headers);
        return;
      }
      const startedAt = performance.now();
      this.started.set(info.req, startedAt);
      this.admit(info.req).then(
        (session) => {
          this.accepted.set(info.req, session);
          let code: WsTicketErrorCode = WsTicketErrorCode.TICKET_INVALID;
          try {
            // ws completes the upgrade inside: the app's handleProtocols runs here.
            callback(true);
          } catch (error) {
            code = this.failures.coded('WebSocket upgrade failed', error).code;
            info.req.socket.destroy();
          }
          // ws emits `connection` inside callback(true), or drops a client that half-closed meanwhile.
          if (this.accepted.delete(info.req)) {
            this.service().telemetry.refused('handshake', code, place, startedAt);
          }
        },
        (error: unknown) => this.refuse(error, callback, place, startedAt),
      );
    });
  }

  private refuse(
    error: unknown,
    callback: VerifyCallback,
    place: WsTicketSocketPlace,
    startedAt: number,
  ): void {
    // Only a code reaches the client: an override's own error may quote hosts or queries.
    const { code } = this.failures.coded('WebSocket upgrade authentication failed', error);
    this.service().telemetry.refused('handshake', code, place, startedAt);
    callback(false, this.statusFor(code), JSON.stringify({ code }), JSON_REFUSAL_HEADERS);
  }

  private service(): WsTicketService {
    this.tickets ??= requireService(this.app, this);
    return this.tickets;
  }
}
