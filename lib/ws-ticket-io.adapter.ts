import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { MessageMappingProperties } from '@nestjs/websockets';
import type { Observable } from 'rxjs';
import { queryOf } from './internal/http.js';
import { IoLiveSessions } from './internal/io-live-sessions.js';
import { IoRecovery } from './internal/io-recovery.js';
import { IoRooms } from './internal/io-rooms.js';
import { IoUserSockets } from './internal/io-user-sockets.js';
import { requireService } from './internal/require-service.js';
import { withoutReserved } from './internal/reserved-events.js';
import { expel, onGone, placeOf } from './internal/socket-io.js';
import { admitConnection } from './session/admission.js';
import { RefusalLog } from './session/refusal-log.js';
import type { WsTicketSession } from './session/ws-ticket-session.types.js';
import { WsTicketError, WsTicketErrorCode } from './ws-ticket.errors.js';
import { WsTicketService } from './ws-ticket.service.js';
import { type WsTicketSocketData, wsTicketUserRoom } from './ws-ticket-session.js';

/*
 * Socket.IO types come from Nest's IoAdapter, not from an import of `socket.io`: Nest's package
 * pins its own socket.io, so an app whose `socket.io` resolves to another copy would see two unrelated
 * Server classes, and our overrides would no longer match IoAdapter's (TS2416 in the app's build).
 */

/** The Socket.IO server `WsTicketIoAdapter` creates: Nest's `IoAdapter` server, from its socket.io. */
export type WsTicketIoServer = ReturnType<IoAdapter['createIOServer']>;

/** Socket.IO's `ServerOptions`, as Nest's `IoAdapter.createIOServer()` takes them. */
export type WsTicketIoServerOptions = NonNullable<Parameters<IoAdapter['createIOServer']>[1]>;

/** A socket of a {@link WsTicketIoServer} (Socket.IO's `Socket`, from Nest's socket.io). */
export type WsTicketIoSocket = Parameters<IoAdapter['bindClientDisconnect']>[0];

type Server = WsTicketIoServer;
type Socket = WsTicketIoSocket;
type NextFunction = (err?: Error) => void;

/**
 * Socket.IO adapter that authenticates every handshake, in every namespace, before `connection`
 * fires (Nest runs no guard on `handleConnection`). The ticket is read from `handshake.auth[param]`,
 * else from the query (a repeated query parameter is `ticket_malformed`); on success
 * `socket.data.user` holds the resolved user. Refusals reach the client as `connect_error` with
 * `err.message` = code and `err.data = { code }`; a connection refused ten times is closed. Any
 * other error (thrown by an {@link authenticate} override…) is logged with its stack and reaches
 * the client as `store_unavailable`, never as its own text.
 *
 * Authenticated sockets join a per-user room, which `WsTicketService.disconnectUser()` empties, and
 * are closed when their session ends (`closeOnSessionEnd`). Connection-state recovery is forced
 * through the middleware, so a recovered session is authenticated again.
 *
 * ```ts
 * app.useWebSocketAdapter(new WsTicketIoAdapter(app));
 * ```
 */
export class WsTicketIoAdapter extends IoAdapter {
  private tickets: WsTicketService | undefined;
  private readonly unregister = new WeakMap<object, () => void>();
  /** The user's sockets and connections of this instance: what revocations and evictions close. */
  private readonly users = new IoUserSockets(() => this.service());
  /**
   * A socket's session and handshake start, between its handshake and its `connect` event, and
   * the packets a recovered one missed (written once it connects).
   */
  private readonly admitting = new WeakMap<
    Socket,
    { session: WsTicketSession; startedAt: number; missed: readonly unknown[] | undefined }
  >();
  /** Namespaces each Socket.IO client is entering (between its CONNECT and its `connect`). */
  private readonly entering = new WeakMap<object, Set<string>>();
  /** Room requests, re-checks and removals (`WsTicketRooms`). */
  private readonly rooms = new IoRooms(() => this.app);
  /** Missed packets of recovered sockets, held until they are authenticated. */
  private readonly recovery = new IoRecovery();
  /** Handshake failures that are no refusal (an override that threw), logged with their stack. */
  private readonly failures = new RefusalLog();
  /** Session ends, `ws-ticket:expiring` and `ws-ticket:refresh` of connected sockets. */
  private readonly live = new IoLiveSessions(
    () => this.service(),
    this.failures,
    (socket, next, previous) => this.authorizeRefresh(socket, next, previous),
    this.rooms,
  );
  /** Gateway handlers of reserved events already warned about. */
  private readonly reservedWarned = new Set<string>();

  constructor(protected readonly app: INestApplicationContext) {
    super(app);
  }

  override createIOServer(port: number, options?: WsTicketIoServerOptions): WsTicketIoServer {
    const recovery = options?.connectionStateRecovery;
    // Socket.IO skips middlewares for recovered sessions by default; recovery must not skip auth.
    const safeOptions = recovery
      ? { ...options, connectionStateRecovery: { ...recovery, skipMiddlewares: false } }
      : options;
    const server: Server = super.createIOServer(port, safeOptions);
    // server.use() only reaches "/", and gateway namespaces are created later through server.of():
    // cover the root now and every namespace (dynamic children included) as it appears. No list of
    // our own: Socket.IO's registry (server._nsps) forgets cleaned-up child namespaces.
    const attach = (namespace: Server['sockets']) => {
      const authenticate = (socket: Socket, next: NextFunction) => this.handshake(socket, next);
      // First of all middlewares: a dynamic child namespace has copied its parent's (the app's own)
      // before it is announced, and none of them may see an unauthenticated socket.
      const middlewares = (namespace as unknown as { _fns?: unknown[] })._fns;
      if (Array.isArray(middlewares)) middlewares.unshift(authenticate);
      else namespace.use(authenticate);
      // Before any of the app's listeners: Socket.IO emits `connect` before its alias `connection`
      // (the gateway's handleConnection), and an app's `connect` listener may disconnect the socket.
      // A dynamic child copies the parent's listeners first, then is announced.
      namespace.prependListener('connect', (socket: Socket) => this.track(socket));
      this.recovery.watch(namespace as unknown as Parameters<IoRecovery['watch']>[0]);
    };
    attach(server.sockets);
    server.on('new_namespace', attach);
    const unregister = this.service().registerConnections(this.users.listen(server));
    const unregisterRooms = this.rooms.listen(server);
    this.unregister.set(server, () => {
      unregister();
      unregisterRooms();
    });
    return server;
  }

  override async close(server: WsTicketIoServer): Promise<void> {
    // Nest closes what create() returned: the server, or a namespace of it.
    const owner = (server as unknown as { server?: Server }).server ?? server;
    this.unregister.get(owner)?.();
    return super.close(server);
  }

  /**
   * Events named `ws-ticket:*` are the module's (`ws-ticket:refresh`, `ws-ticket:join`,
   * `ws-ticket:leave`): a gateway handler for one is never called, which a one-time warning says.
   */
  override bindMessageHandlers(
    socket: WsTicketIoSocket,
    handlers: MessageMappingProperties[],
    transform: (data: unknown) => Observable<unknown>,
  ): void {
    super.bindMessageHandlers(socket, withoutReserved(handlers, this.reservedWarned), transform);
  }

  /**
   * Authenticates one namespace handshake and returns the session. Override to add checks; call
   * `super` first. Namespaces multiplexed over one connection share one ticket consumption. Throw a
   * `WsTicketError` to refuse; any other error is a failure (logged, `store_unavailable`).
   */
  protected authenticate(socket: WsTicketIoSocket): Promise<WsTicketSession> {
    // engine.io's query parser keeps the last of repeated keys: read the URL as sent instead.
    const handshake = { ...socket.handshake, query: queryOf(socket.handshake.url) };
    return this.service().consumeForConnection(socket.conn, handshake);
  }

  /**
   * Runs before a live session refresh (`ws-ticket:refresh`) is applied to a socket, once for every
   * namespace socket of the connection it extends, with the new session (its user re-resolved) and
   * the one it replaces. Override it to re-derive what your app built from the user when the
   * socket connected (rooms joined by role or tenant, per-socket caches): a refresh keeps the
   * socket, so `handleConnection` does not run again. Throw a `WsTicketError` to refuse the refresh
   * with its code (the socket keeps its old session and end); any other error, or no answer within
   * `callbackTimeout`, is a failure: logged with its stack, answered `store_unavailable`. The
   * default does nothing.
   */
  protected async authorizeRefresh(
    _socket: WsTicketIoSocket,
    _session: WsTicketSession,
    _previous: WsTicketSession,
  ): Promise<void> {}

  private handshake(socket: Socket, next: NextFunction): void {
    const startedAt = performance.now();
    this.enter(socket)
      .then(() => this.admit(socket, startedAt))
      .then(
        () => next(),
        (error: unknown) => {
          // Only a code reaches the client: an override's own error may quote hosts or queries.
          const refusal = this.failures.coded('Socket.IO handshake authentication failed', error);
          this.service().telemetry.refused('handshake', refusal.code, placeOf(socket), startedAt);
          next(refusal);
          // After the refusal packet is written (Socket.IO sends it on the next tick).
          if (this.service().countRefusal(socket.conn)) setImmediate(() => socket.conn.close());
        },
      )
      // A later middleware of the app that throws inside next() must not go unhandled.
      .catch((error: unknown) => this.service().logFailure('Socket.IO middleware failed', error));
  }

  /**
   * One socket per namespace on a connection: Socket.IO admits a second CONNECT for a namespace
   * the client is in (or entering) and orphans the first socket, which then lives on unreachable.
   * Socket.IO clients never send one; it is refused (`connection_limit`).
   */
  private async enter(socket: Socket): Promise<void> {
    const client = socket.client as unknown as { nsps?: Map<string, unknown> };
    const name = socket.nsp.name;
    let entering = this.entering.get(client);
    if (client.nsps?.has(name) || entering?.has(name)) {
      throw new WsTicketError(WsTicketErrorCode.CONNECTION_LIMIT);
    }
    if (!entering) {
      entering = new Set();
      this.entering.set(client, entering);
    }
    entering.add(name);
    // In the client's namespaces once connected (see track()), or gone.
    onGone(socket, () => this.entered(client, name));
  }

  /** A namespace of the client is entered (or given up): nothing kept once none is pending. */
  private entered(client: object, name: string): void {
    const entering = this.entering.get(client);
    entering?.delete(name);
    if (entering?.size === 0) this.entering.delete(client);
  }

  private async admit(socket: Socket, startedAt: number): Promise<void> {
    // Taken first: a refused recovery must not leave them behind, nor be sent them; and its
    // session may be restored again once this socket is gone, whichever way it goes.
    let missed = socket.recovered ? this.recovery.take(socket) : undefined;
    if (socket.recovered) onGone(socket, () => this.recovery.release(socket));
    const session = await this.authenticate(socket);
    const data = socket.data as Partial<WsTicketSocketData>;
    // A recovered socket comes back with its old data and rooms: it must stay the same user.
    if (socket.recovered && data.userId !== session.userId) {
      throw new WsTicketError(WsTicketErrorCode.USER_REJECTED);
    }
    data.user = session.user;
    data.userId = session.userId;
    data.sessionExpiresAt = session.sessionExpiresAt;
    await socket.join(wsTicketUserRoom(session.userId));
    // A connection that closed meanwhile says 'close' no more: it must not be remembered.
    if (socket.conn.readyState !== 'open')
      throw new WsTicketError(WsTicketErrorCode.TICKET_INVALID);
    this.users.add(session.userId, socket.conn);
    // In the room now: a revocation from here on reaches it, one from before is caught here; and
    // the connection cap, once per connection (multiplexed namespaces share the slot).
    const connection = socket.conn;
    const server = socket.nsp.server;
    const letGo = await admitConnection(
      this.service(),
      session,
      connection,
      () => connection.readyState === 'open',
      (code) => this.users.evict(server, connection, session.userId, code),
    );
    // A connection that stays open without any socket of the user holds no slot for them.
    onGone(socket, letGo);
    // Back with its rooms: only those it may still be in stay, or it starts afresh.
    if (socket.recovered && (await this.rooms.recheck(socket, 'recovery')).length > 0) {
      this.recovery.restart(socket);
      missed = undefined;
    }
    this.admitting.set(socket, { session, startedAt, missed });
  }

  private track(socket: Socket): void {
    // Socket.IO lists it in its client's namespaces now.
    this.entered(socket.client, socket.nsp.name);
    const admitted = this.admitting.get(socket);
    this.admitting.delete(socket);
    // Gone already: refused by no one here, accepted by no one either.
    if (!admitted || !socket.connected) return;
    const { session, startedAt, missed } = admitted;
    const { telemetry } = this.service();
    // Socket.IO connects a tick after the middleware passed: a revocation in that tick missed it.
    if (this.service().isSessionRevoked(session)) {
      telemetry.refused('handshake', WsTicketErrorCode.USER_REVOKED, placeOf(socket), startedAt);
      expel(socket, WsTicketErrorCode.USER_REVOKED);
      return;
    }
    this.live.start(socket, session);
    if (missed) this.recovery.deliver(socket, missed);
    this.rooms.connected(socket);
    telemetry.accepted(session.userId, placeOf(socket), startedAt);
  }

  private service(): WsTicketService {
    this.tickets ??= requireService(this.app, this);
    return this.tickets;
  }
}
