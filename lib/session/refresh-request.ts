import { withTimeout } from '../internal/with-timeout.js';
import type { WsTicketSocketPlace } from '../telemetry/ws-ticket-telemetry.js';
import type { WsTicketService } from '../ws-ticket.service.js';
import type { WsTicketHandshake } from '../ws-ticket.types.js';
import type { WsTicketRefreshAck } from '../ws-ticket-session.js';
import type { RefusalLog } from './refusal-log.js';
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

/** What one refresh of a connection needs from its transport. */
export interface RefreshAttempt {
  service: WsTicketService;
  /** Where a failure that is no refusal is logged (with its stack) and coded `store_unavailable`. */
  failures: RefusalLog;
  /** The failure's kind in that log. */
  kind: string;
  /** Where the socket the refresh came on is, for the `refresh` event. */
  place: WsTicketSocketPlace;
  /** The session the connection has now. */
  current: WsTicketSession;
  /** The refresh event's data. */
  payload: unknown;
  /** What the ticket is checked against (origin, bindings): the connection's own handshake. */
  handshake: WsTicketHandshake;
  /** Whether the connection is still open: a closed one (revoked, expired) is extended no more. */
  isOpen(): boolean;
  /** The adapter's `authorizeRefresh()`, for every socket the refresh extends. */
  authorize(next: WsTicketSession): Promise<void>;
  /** Gives the connection the new session. */
  apply(next: WsTicketSession): void;
}

/**
 * One refresh: the ticket consumed (as at a handshake, same user), the app's `authorizeRefresh()`
 * within `callbackTimeout`, then the new session applied, as long as the connection is open.
 * Resolves the answer, or `undefined` once the connection closed (nothing to answer); never
 * rejects.
 */
export async function attemptRefresh(
  steps: RefreshAttempt,
): Promise<WsTicketRefreshAck | undefined> {
  const { service } = steps;
  const userId = steps.current.userId;
  const startedAt = performance.now();
  if (!steps.isOpen()) return undefined;
  try {
    const ticket = refreshTicketOf(steps.payload, service.param);
    const next = await service.refreshSession(steps.current, ticket, steps.handshake);
    if (!steps.isOpen()) return undefined;
    await withTimeout(
      () => steps.authorize(next),
      service.callbackTimeout,
      () => new Error(`authorizeRefresh() did not answer within ${service.callbackTimeout} ms`),
    );
    if (!steps.isOpen()) return undefined;
    steps.apply(next);
    service.telemetry.refreshed(userId, steps.place, null, startedAt);
    return { ok: true, expiresAt: next.sessionExpiresAt ?? null };
  } catch (error) {
    const { code } = steps.failures.coded(steps.kind, error);
    service.telemetry.refreshed(userId, steps.place, code, startedAt);
    return { ok: false, code };
  }
}
