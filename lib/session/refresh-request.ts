import type { WsTicketSession } from './ws-ticket-session.types.js';

/**
 * The ticket of a `ws-ticket:refresh` payload, `{ [param]: uuid }`: `undefined` when the object has
 * none (`ticket_missing`), and `false` for a payload that is no plain object (a non-string, which
 * the consumer refuses as `ticket_malformed` before the store is touched). Only an own property
 * counts: `__proto__` and inherited keys are no ticket.
 */
export function refreshTicketOf(payload: unknown, param: string): unknown {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return false;
  return Object.hasOwn(payload, param) ? (payload as Record<string, unknown>)[param] : undefined;
}

/** The `ok: true` answer for a refreshed session. */
export function refreshedAnswer(session: WsTicketSession): { ok: true; expiresAt: number | null } {
  return { ok: true, expiresAt: session.sessionExpiresAt ?? null };
}
