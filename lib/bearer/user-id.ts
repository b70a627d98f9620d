import type { WsTicketClaims, WsTicketUserIdOf } from '../ws-ticket.options.js';

/**
 * The default {@link WsTicketUserIdOf}: the `sub` claim, when it is a non-empty string or a finite
 * number (`1` and `"1"` are the same user).
 */
export function userIdFromSub(claims: WsTicketClaims): string | undefined {
  const sub: unknown = claims.sub;
  if (typeof sub === 'string') return sub === '' ? undefined : sub;
  return typeof sub === 'number' && Number.isFinite(sub) ? String(sub) : undefined;
}

/**
 * Wraps the app's `getUserId` (default: {@link userIdFromSub}) so that it always answers a
 * non-empty string or `undefined`: numbers become strings, anything else (or a throw) is no id.
 */
export function userIdReader(
  getUserId: WsTicketUserIdOf = userIdFromSub,
): (claims: WsTicketClaims) => string | undefined {
  return (claims) => {
    let id: unknown;
    try {
      id = getUserId(claims);
    } catch {
      return undefined;
    }
    if (typeof id === 'string') return id === '' ? undefined : id;
    return typeof id === 'number' && Number.isFinite(id) ? String(id) : undefined;
  };
}
