import type { INestApplication } from '@nestjs/common';
import type { Server } from 'socket.io';
import { WsTicketIoAdapter, WsTicketService } from '../../lib/index.js';
import type { ConnectionSessions, RefusalLog, Revocation } from '../../lib/session/index.js';
import type { WsTicketWsAdapter } from '../../lib/ws/index.js';

/** The bounded structures inside a WsTicketService, for tests that assert their sizes. */
export interface ServiceInternals {
  connections: ConnectionSessions<unknown>;
  refusals: RefusalLog;
  revocation: Revocation;
}

/** The app's WsTicketService and its bounded internal structures. */
export function internalsOf(app: INestApplication): {
  service: WsTicketService;
  internals: ServiceInternals;
} {
  const service = app.get(WsTicketService);
  const inside = service as unknown as {
    refusals: RefusalLog;
    parts: Omit<ServiceInternals, 'refusals'>;
  };
  return { service, internals: { ...inside.parts, refusals: inside.refusals } };
}

/** A WsTicketIoAdapter that keeps the Socket.IO server it made, to look at its registries. */
export class CapturingIoAdapter extends WsTicketIoAdapter {
  server: Server | undefined;

  override createIOServer(
    port: number,
    options?: Parameters<WsTicketIoAdapter['createIOServer']>[1],
  ): Server {
    const server = super.createIOServer(port, options);
    this.server ??= server;
    return server;
  }
}

/** The engine.io connections the server holds now, by session id. */
export function engineConnections(server: Server): Record<string, object> {
  return (server.engine as unknown as { clients: Record<string, object> }).clients;
}

/** How many sockets of the user a WsTicketWsAdapter still holds in its per-user registry. */
export function wsSocketsOf(adapter: WsTicketWsAdapter, userId: string): number {
  return (adapter as unknown as { sockets: { of(userId: string): unknown[] } }).sockets.of(userId)
    .length;
}
