import { EventEmitter } from 'node:events';
import type { Socket } from 'socket.io';
import type { WsTicketSocketPlace } from '../telemetry/ws-ticket-telemetry.js';
import type { WsTicketErrorCode } from '../ws-ticket.errors.js';
import { WS_TICKET_UNAUTHORIZED_EVENT } from '../ws-ticket-session.js';

/**
 * Tells Socket.IO sockets why (`unauthorized` `{ code }`), then disconnects them from the server.
 * Every socket is told before any is disconnected. A socket's connection is closed with the last
 * namespace socket on it: another namespace multiplexed on it is never closed untold (its own
 * session end, or a revocation of its own user, closes it with its own code).
 */
export function expel(sockets: Socket | readonly Socket[], code: WsTicketErrorCode): void {
  const all = Array.isArray(sockets) ? sockets : [sockets as Socket];
  for (const socket of all) tell(socket, code);
  for (const socket of all) socket.disconnect(namespacesOn(socket) <= 1);
}

/** How many namespace sockets share the socket's connection (itself included). */
function namespacesOn(socket: Socket): number {
  const client = (socket as unknown as { client?: { sockets?: { size?: unknown } } }).client;
  const size = client?.sockets?.size;
  // A Socket.IO without the field: close the connection, as before.
  return typeof size === 'number' ? size : 1;
}

/** Why the module is closing a socket, for its `session-end` event. */
const closeCodes = new WeakMap<Socket, WsTicketErrorCode>();

/** Tells one socket why (`unauthorized` `{ code }`) it is about to be disconnected. */
export function tell(socket: Socket, code: WsTicketErrorCode): void {
  if (!closeCodes.has(socket)) closeCodes.set(socket, code);
  socket.emit(WS_TICKET_UNAUTHORIZED_EVENT, { code });
}

/** The code the module closed the socket with, or `null` (the client left, the app closed it). */
export function closeCodeOf(socket: Socket): WsTicketErrorCode | null {
  return closeCodes.get(socket) ?? null;
}

/**
 * Calls `gone` once when the socket is gone for good, whichever way: disconnected after
 * `connection`, or dropped before it (refused by a later middleware, or its connection closed
 * while the middlewares ran; Socket.IO emits nothing for those). All three run the socket's
 * `_cleanup()`, which is wrapped here; a Socket.IO without it falls back to `disconnect`.
 */
export function onGone(socket: Socket, gone: () => void): void {
  const internal = socket as unknown as { _cleanup?: () => void };
  const cleanup = internal._cleanup;
  if (typeof cleanup !== 'function') {
    socket.once('disconnect', gone);
    return;
  }
  let called = false;
  internal._cleanup = () => {
    if (!called) {
      called = true;
      gone();
    }
    cleanup.call(socket);
  };
}

/** Longest namespace name an event or span carries: a dynamic namespace's is the client's. */
const NAMESPACE_MAX = 128;

/** Where a Socket.IO socket is, for the module's events; a longer name is cut, with `…`. */
export function placeOf(socket: Socket): WsTicketSocketPlace {
  const name = socket.nsp.name;
  return {
    transport: 'socket.io',
    namespace: name.length > NAMESPACE_MAX ? `${name.slice(0, NAMESPACE_MAX)}…` : name,
  };
}

/**
 * Whether the server's Socket.IO adapter reaches other instances with `serverSideEmit`: the
 * in-memory adapter (and its session-aware subclass) only warn that they cannot.
 */
export function spansInstances(server: { sockets: { adapter: object } }): boolean {
  let owner: object | null = server.sockets.adapter;
  while (owner && !Object.hasOwn(owner, 'serverSideEmit')) owner = Object.getPrototypeOf(owner);
  return owner !== null && Object.getPrototypeOf(owner) !== EventEmitter.prototype;
}
