import {
  type CanActivate,
  type ExecutionContext,
  Injectable,
  type OnModuleDestroy,
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
 * it admitted are closed by `WsTicketService.disconnectUser()` (on this process). Guard-only mode
 * has no session expiry and no per-user rooms: use the adapter for those.
 * Refusals are `WsException({ code, message })`.
 */
@Injectable()
export class WsTicketGuard implements CanActivate, OnModuleDestroy {
  /** Failures that are no refusal (a subclass's check that threw), logged with their stack. */
  private readonly failures = new RefusalLog();
  /** Sockets this guard authenticated itself (guard-only mode), by user. */
  private readonly admitted = new UserConnections<Socket>('disconnect');
  private readonly unregister: () => void;

  constructor(protected readonly tickets: WsTicketService) {
    this.unregister = tickets.registerConnections({
      disconnectUser: (userId, code) => {
        for (const socket of this.admitted.of(userId)) expel(socket, code);
      },
    });
  }

  onModuleDestroy(): void {
    this.unregister();
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'ws') return false;
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
      if (typeof client.once === 'function') this.admitted.add(session.userId, client as Socket);
      client.data = { ...client.data, user: session.user, userId: session.userId };
      return true;
    } catch (error) {
      // A connection that keeps sending refused tickets is closed, as by the adapter.
      if (this.tickets.countRefusal(connection)) client.disconnect?.(true);
      this.throwRefusal(error);
    }
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
