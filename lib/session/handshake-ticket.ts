import type { WsTicketHandshake } from '../ws-ticket.types.js';

/**
 * The raw ticket of a handshake: `auth[param]` first, then the query parameter. Whatever is there,
 * own properties only (never `Object.prototype`'s): the format is checked when it is consumed.
 */
export function ticketOf(handshake: WsTicketHandshake, param: string): unknown {
  const { auth, query } = handshake;
  if (auth && typeof auth === 'object' && Object.hasOwn(auth, param)) return auth[param];
  if (query && typeof query === 'object' && Object.hasOwn(query, param)) return query[param];
  return undefined;
}
