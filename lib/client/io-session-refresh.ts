/*
 * Live session refresh on a socket.io-client socket, for `attachTicketAuth`: `ws-ticket:expiring`
 * in, `ws-ticket:refresh` with an ack out. Namespace sockets of one Manager share one refresh.
 * Internal: not re-exported by the package.
 */
import { TICKET_EXPIRING_EVENT, TICKET_REFRESH_EVENT } from './client.constants.js';
import { type RefreshCallbacks, refreshGroupOf, SessionRefresher } from './session-refresh.js';
import type { TicketSocket } from './ticket-auth.js';
import type { TicketClientEvent } from './ticket-failure.js';
import type { CheckedTicketRequest } from './ticket-request.js';

/** What {@link watchSessionRefresh} needs besides the socket. */
export interface IoRefreshOptions extends RefreshCallbacks {
  /** Key of the refresh payload that carries the ticket (the module's `param`). */
  param: string;
  /** Stops the helper and disconnects the socket after a fatal refresh outcome. */
  stop(event: TicketClientEvent): void;
}

/**
 * Answers the server's `ws-ticket:expiring` on `socket` with a fresh ticket. Sockets multiplexed
 * on one Manager (`socket.io`) make one refresh at a time between them: the server's refresh
 * covers the whole connection. Returns the function that undoes it all.
 */
export function watchSessionRefresh(
  socket: TicketSocket,
  checked: CheckedTicketRequest,
  options: IoRefreshOptions,
): () => void {
  const refresher = new SessionRefresher(refreshGroupOf(socket.io ?? socket), checked, options, {
    send: (uuid, signal) =>
      new Promise((resolve, reject) => {
        if (signal.aborted) {
          reject(signal.reason);
          return;
        }
        const onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        socket.emit(TICKET_REFRESH_EVENT, { [options.param]: uuid }, (answer: unknown) => {
          signal.removeEventListener('abort', onAbort);
          resolve(answer);
        });
      }),
    stop: (event) => options.stop(event),
  });
  const onExpiring = (...args: unknown[]) => {
    const expiresAt = (args[0] as { expiresAt?: unknown } | null | undefined)?.expiresAt;
    if (typeof expiresAt === 'number' && Number.isFinite(expiresAt)) refresher.expiring(expiresAt);
  };
  const onConnect = () => refresher.opened();
  const onDisconnect = () => refresher.closed();
  socket.on(TICKET_EXPIRING_EVENT, onExpiring);
  socket.on('connect', onConnect);
  socket.on('disconnect', onDisconnect);
  return () => {
    socket.off(TICKET_EXPIRING_EVENT, onExpiring);
    socket.off('connect', onConnect);
    socket.off('disconnect', onDisconnect);
    refresher.dispose();
  };
}
