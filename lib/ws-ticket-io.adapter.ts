import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { Namespace, Server, ServerOptions, Socket } from 'socket.io';
import { WsTicketError, WsTicketErrorCode } from './ws-ticket.errors.js';
import type { WsTicketSession } from './ws-ticket.service.js';
import { WsTicketService } from './ws-ticket.service.js';
import {
  scheduleSessionEnd,
  WS_TICKET_UNAUTHORIZED_EVENT,
  type WsTicketSocketData,
  wsTicketUserRoom,
} from './ws-ticket-session.js';

type NextFunction = (err?: Error) => void;

/**
 * Socket.IO adapter that authenticates every handshake, in every namespace, before `connection`
 * fires (Nest runs no guard on `handleConnection`). The ticket is read from `handshake.auth[param]`,
 * else from the query; on success `socket.data.user` holds the resolved user. Refusals reach the
 * client as `connect_error` with `err.message` = code and `err.data = { code }`.
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

  constructor(protected readonly app: INestApplicationContext) {
    super(app);
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    const recovery = options?.connectionStateRecovery;
    // Socket.IO skips middlewares for recovered sessions by default; recovery must not skip auth.
    const safeOptions = recovery
      ? { ...options, connectionStateRecovery: { ...recovery, skipMiddlewares: false } }
      : options;
    const server: Server = super.createIOServer(port, safeOptions);
    const namespaces = new Set<Namespace>();
    const attach = (namespace: Namespace) => {
      namespaces.add(namespace);
      namespace.use((socket, next) => this.handshake(socket, next));
      namespace.on('connection', (socket: Socket) => this.track(socket));
    };
    // server.use() only reaches "/", and gateway namespaces are created later through server.of():
    // cover the root now and every namespace (dynamic children included) as it appears.
    attach(server.sockets);
    server.on('new_namespace', attach);
    this.unregister.set(
      server,
      this.service().registerConnections({
        disconnectUser: (userId, code) => {
          for (const namespace of namespaces) {
            const room = wsTicketUserRoom(userId);
            namespace.in(room).emit(WS_TICKET_UNAUTHORIZED_EVENT, { code });
            // This instance's sockets at once, even while a cross-instance adapter's Redis is
            // down (its disconnectSockets only publishes); the other instances' through it.
            namespace.local.in(room).disconnectSockets(true);
            namespace.in(room).disconnectSockets(true);
          }
        },
      }),
    );
    return server;
  }

  override async close(server: Server): Promise<void> {
    this.unregister.get(server)?.();
    return super.close(server);
  }

  /**
   * Authenticates one namespace handshake and returns the session. Override to add checks; call
   * `super` first. Namespaces multiplexed over one connection share one ticket consumption.
   */
  protected authenticate(socket: Socket): Promise<WsTicketSession> {
    return this.service().consumeForConnection(socket.conn, socket.handshake);
  }

  private handshake(socket: Socket, next: NextFunction): void {
    this.authenticate(socket).then(
      (session) => {
        const data = socket.data as Partial<WsTicketSocketData>;
        // A recovered socket comes back with its old data and rooms: it must stay the same user.
        if (socket.recovered && data.userId !== session.userId) {
          return next(new WsTicketError(WsTicketErrorCode.USER_REJECTED));
        }
        data.user = session.user;
        data.userId = session.userId;
        data.sessionExpiresAt = session.sessionExpiresAt;
        if (session.userId !== undefined) socket.join(wsTicketUserRoom(session.userId));
        next();
      },
      (error: Error) => next(error),
    );
  }

  private track(socket: Socket): void {
    const endsAt = (socket.data as Partial<WsTicketSocketData>).sessionExpiresAt;
    if (typeof endsAt !== 'number' || !this.service().closeOnSessionEnd) return;
    const cancel = scheduleSessionEnd(endsAt, () => {
      socket.emit(WS_TICKET_UNAUTHORIZED_EVENT, { code: WsTicketErrorCode.SESSION_EXPIRED });
      socket.disconnect(true);
    });
    socket.once('disconnect', cancel);
  }

  private service(): WsTicketService {
    this.tickets ??= this.app.get(WsTicketService, { strict: false }) ?? undefined;
    if (!this.tickets) {
      throw new Error('WsTicketIoAdapter: WsTicketService not found; import WsTicketModule.');
    }
    return this.tickets;
  }
}
