import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { Namespace, Server, ServerOptions, Socket } from 'socket.io';
import { WsTicketService } from './ws-ticket.service.js';

type NextFunction = (err?: Error) => void;

/**
 * Socket.IO adapter that authenticates every handshake, in every namespace, before `connection`
 * fires (Nest runs no guard on `handleConnection`). The ticket is read from `handshake.auth[param]`,
 * else from the query; on success `socket.data.user` holds the resolved user. Refusals reach the
 * client as `connect_error` with `err.message` = code and `err.data = { code }`.
 *
 * ```ts
 * app.useWebSocketAdapter(new WsTicketIoAdapter(app));
 * ```
 */
export class WsTicketIoAdapter extends IoAdapter {
  private tickets: WsTicketService | undefined;

  constructor(protected readonly app: INestApplicationContext) {
    super(app);
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    const server: Server = super.createIOServer(port, options);
    const middleware = (socket: Socket, next: NextFunction) => this.handshake(socket, next);
    // server.use() only reaches "/", and gateway namespaces are created later through server.of():
    // cover the root now and every namespace (dynamic children included) as it appears.
    server.use(middleware);
    server.on('new_namespace', (namespace: Namespace) => namespace.use(middleware));
    return server;
  }

  /** Authenticates one namespace handshake. Override to add checks; call `super` first. */
  protected async authenticate(socket: Socket): Promise<unknown> {
    return this.service().consumeForConnection(socket.conn, socket.handshake);
  }

  private handshake(socket: Socket, next: NextFunction): void {
    this.authenticate(socket).then(
      (user) => {
        socket.data.user = user;
        next();
      },
      (error: Error) => next(error),
    );
  }

  private service(): WsTicketService {
    this.tickets ??= this.app.get(WsTicketService, { strict: false }) ?? undefined;
    if (!this.tickets) {
      throw new Error('WsTicketIoAdapter: WsTicketService not found; import WsTicketModule.');
    }
    return this.tickets;
  }
}
