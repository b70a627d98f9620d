import {
  type CanActivate,
  type ExecutionContext,
  Injectable,
  type OnModuleDestroy,
  Optional,
} from '@nestjs/common';
import { WsException } from '@nestjs/websockets';
import type { Socket } from 'socket.io';
import { queryOf } from './internal/http.js';
import { expel } from './internal/socket-io.js';
import { RefusalLog } from './session/refusal-log.js';
import { UserConnections } from './session/user-connections.js';
import { WsTicketError, WsTicketErrorCode } from './ws-ticket.errors.js';
import { WsTicketService } from './ws-ticket.service.js';

/**
 * Guards gateway handlers. Passes when `WsTicketIoAdapter` authenticated the socket. In apps that use
 * only the guard (plain `IoAdapter`), it consumes the handshake ticket on the first guarded message,
 * once per connection, and keeps the user in `socket.data.user` for the next messages; the sockets
 * it admitted are closed by `WsTicketService.disconnectUser()` (on this process, and on the others
 * through the ticket store's channel between instances). Guard-only mode
 * has no session expiry and no per-user rooms: use the adapter for those.
 * Refusals are `WsException({ code, message })`.
 *
 * Contexts other than WebSocket (HTTP routes, microservice handlers) pass through untouched, so the
 * guard may be registered app-wide (`APP_GUARD`) beside the app's HTTP guards.
 */
@Injectable()
export class WsTicketGuard implements CanActivate, OnModuleDestroy {
  /** Failures that are no refusal (a subclass's check that threw), logged with their stack. */
  private readonly failures = new RefusalLog();
  /** Sockets this guard authenticated itself (guard-only mode), by user. */
  private readonly admitted = new UserConnections<Socket>('disconnect');
  /** Set once this guard admitted a socket: only then has it anything to disconnect. */
  private unregister: (() => void) | undefined;

  protected readonly tickets: WsTicketService;

  // Optional, to replace Nest's "can't resolve dependencies" with an error that names the fix.
  constructor(@Optional() tickets?: WsTicketService) {
    if (!tickets) {
      throw new Error(
        'WsTicketGuard: WsTicketService cannot be injected in the module that uses the guard. WsTicketModule.forRoot…() is global unless `isGlobal: false`: drop `isGlobal: false`, or import the module that registers WsTicketModule into this one (and export WsTicketModule from it). If the app has no WsTicketModule.forRoot({ jwt: { secret } }) / forRootAsync({ useFactory }) at all, add one to the root module: a bare `imports: [WsTicketModule]` registers nothing.',
      );
    }
    this.tickets = tickets;
  }

  onModuleDestroy(): void {
    this.unregister?.();
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    // Not a WebSocket handler: not this guard's business (HTTP has its own guards).
    if (context.getType() !== 'ws') return true;
    const client = context.switchToWs().getClient<Partial<Socket>>();
    if (client.data?.user != null) return true;
    // A raw WebSocket behind Nest's plain WsAdapter has no handshake to read a ticket from:
    // only WsTicketWsAdapter authenticates those.
    if (!client.handshake) this.throwRefusal(new WsTicketError(WsTicketErrorCode.TICKET_MISSING));
    const connection = client.conn ?? client;
    try {
      const session = await this.tickets.consumeForConnection(connection, {
        ...client.handshake,
        query: queryOf(client.handshake.url),
      });
      await this.tickets.confirmSession(session);
      // Right after the last check, with no wait between: disconnectUser finds it from here on.
      if (typeof client.once === 'function') this.admit(session.userId, client as Socket);
      client.data = { ...client.data, user: session.user, userId: session.userId };
      return true;
    } catch (error) {
      // A connection that keeps sending refused tickets is closed, as by the adapter.
      if (this.tickets.countRefusal(connection)) client.disconnect?.(true);
      this.throwRefusal(error);
    }
  }

  /** Remembers a socket for `disconnectUser`, joining it on the first one. */
  private admit(userId: string, socket: Socket): void {
    this.unregister ??= this.tickets.registerConnections({
      disconnectUser: (id, code) => {
        // Multiplexed namespaces share one connection: it counts once.
        const sockets = this.admitted.of(id);
        expel(sockets, code);
        return new Set(sockets.map((admitted) => admitted.conn ?? admitted)).size;
      },
    });
    this.admitted.add(userId, socket);
  }

  /** Turns a refusal into the `WsException` the client receives. */
  protected throwRefusal(error: unknown): never {
    // A WsTicketError is `{ code, message }`, a subclass's own WsException passes as is; anything
    // else (a subclass's check that threw) is a failure: logged with its stack and answered
    // store_unavailable, never Nest's "Internal server error" nor the error's own text.
    if (error instanceof WsException) throw error;
    const refusal = this.failures.coded('WebSocket guard failed', error);
    throw new WsException({ code: refusal.code, message: refusal.description });
  }
}
