import { randomUUID } from 'node:crypto';
import { signJwt } from '../../support/jwt.js';
import { type ConnectOutcome, connect } from '../../support/sockets.js';

/**
 * How long a request or handshake may take before the test counts it as hung. A bound on "does not
 * hang", far above the store timeouts the tests configure; not a measurement.
 */
export const HANG_BOUND = 5000;

/** POSTs to the ticket endpoint as a fresh user (so no per-user issuance limit is ever reached). */
export function requestTicketAs(url: string, sub: string = randomUUID()): Promise<Response> {
  return fetch(`${url}/auth/ws-ticket`, {
    method: 'POST',
    headers: { authorization: `Bearer ${signJwt({ sub })}` },
    signal: AbortSignal.timeout(HANG_BOUND),
  });
}

/** Issues a ticket, failing unless the endpoint answers 201. */
export async function issueTicket(url: string, sub?: string): Promise<string> {
  const response = await requestTicketAs(url, sub);
  if (response.status !== 201) throw new Error(`ticket endpoint answered ${response.status}`);
  return ((await response.json()) as { uuid: string }).uuid;
}

/** True once the endpoint issues tickets again. */
export async function issuing(url: string): Promise<boolean> {
  try {
    const response = await requestTicketAs(url);
    await response.body?.cancel();
    return response.status === 201;
  } catch {
    return false;
  }
}

/** Opens `/chat` with a ticket, bounded by {@link HANG_BOUND}. */
export function connectChat(url: string, uuid: string): Promise<ConnectOutcome> {
  return connect(`${url}/chat`, { auth: { uuid }, timeout: HANG_BOUND });
}
