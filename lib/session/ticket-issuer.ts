import { randomUUID } from 'node:crypto';
import type { Logger } from '@nestjs/common';
import { WsTicketBearerError } from '../bearer/bearer.errors.js';
import type { BoundedTicketStore } from '../stores/bounded-ticket-store.js';
import type { WsTicketTelemetry } from '../telemetry/ws-ticket-telemetry.js';
import { WsTicketError, WsTicketErrorCode } from '../ws-ticket.errors.js';
import type { WsTicketClaims } from '../ws-ticket.options.js';
import type { WsTicketRequest, WsTicketResponse } from '../ws-ticket.types.js';
import type { IssueLimit } from './issue-limit.js';
import type { Revocation } from './revocation.js';
import type { TicketBinding } from './ticket-binding.js';
import type { TicketRecord } from './ticket-record.js';

/** What {@link TicketIssuer} works with, built once by the service. */
export interface TicketIssuerParts {
  /** Ticket lifetime, seconds. */
  ttl: number;
  tickets: BoundedTicketStore;
  revocation: Revocation;
  issueLimit: IssueLimit | undefined;
  binding: TicketBinding;
  userIdOf: (claims: WsTicketClaims) => string | undefined;
  logger: Logger;
  telemetry: WsTicketTelemetry;
}

/**
 * Issues tickets, checks in order from the cheapest: the user id the claims name, the issuance limit
 * on it (with the user's revocation generation, read at the same time), then the app's own check
 * (`resolveUser` for the built-in endpoint), then the one store write of the ticket. A user over
 * the limit never reaches the app's user backend.
 */
export class TicketIssuer {
  private warnedForwarded = false;

  constructor(private readonly parts: TicketIssuerParts) {}

  /**
   * Issues a ticket and publishes the outcome (`issue`, or `refuse` with its code).
   * @param claims the identity, or the bearer check that yields it (its time and refusals count)
   * @param authorize the app's check, run only for a request inside the issuance limit; `false`
   *   refuses with `user_rejected`
   * @throws WsTicketBearerError `bearer_missing`, `bearer_invalid` or `user_rejected`
   * @throws WsTicketError `rate_limited` (with `retryAfter`), `store_unavailable` or
   *   `jwks_unavailable`
   */
  async issue(
    claims: WsTicketClaims | (() => Promise<WsTicketClaims>),
    request?: WsTicketRequest,
    authorize?: (claims: WsTicketClaims) => Promise<boolean>,
  ): Promise<WsTicketResponse> {
    const { telemetry } = this.parts;
    const startedAt = performance.now();
    try {
      const verified = typeof claims === 'function' ? await claims() : claims;
      const [response, userId] = await this.issueFor(verified, request, authorize);
      telemetry.issued(userId, startedAt);
      return response;
    } catch (error) {
      const code =
        error instanceof WsTicketError || error instanceof WsTicketBearerError
          ? error.code
          : WsTicketErrorCode.STORE_UNAVAILABLE;
      telemetry.refused('issue', code, undefined, startedAt);
      throw error;
    }
  }

  private async issueFor(
    claims: WsTicketClaims,
    request: WsTicketRequest | undefined,
    authorize: ((claims: WsTicketClaims) => Promise<boolean>) | undefined,
  ): Promise<[WsTicketResponse, string]> {
    const { ttl, tickets, revocation, issueLimit, binding } = this.parts;
    const userId = this.parts.userIdOf(claims);
    if (userId === undefined) {
      throw new WsTicketBearerError('bearer_invalid', 'The identity names no user.');
    }
    const [generation] = await Promise.all([
      revocation.generation(userId),
      issueLimit?.check(userId),
    ]);
    if (authorize && !(await authorize(claims))) {
      throw new WsTicketBearerError('user_rejected', 'The user may not open WebSockets.');
    }
    const record: TicketRecord = {
      claims,
      expiresAt: Date.now() + ttl * 1000,
      gen: generation,
      ...binding.stamp({ headers: request?.headers, address: this.peerOf(request) }),
    };
    const uuid = randomUUID();
    await tickets.put(uuid, JSON.stringify(record), ttl * 1000, userId);
    return [{ uuid, expiresIn: ttl }, userId];
  }

  /**
   * The TCP peer of the ticket request, as the handshake will see its own: never the framework's
   * `req.ip`, which Express' `trust proxy` (or Fastify's `trustProxy`) derives differently.
   */
  private peerOf(request: WsTicketRequest | undefined): string | undefined {
    const peer = request?.socket?.remoteAddress ?? request?.ip;
    if (
      !this.warnedForwarded &&
      this.parts.binding.forwardedIgnored &&
      request?.ip !== undefined &&
      peer !== undefined &&
      request.ip !== peer
    ) {
      this.warnedForwarded = true;
      this.parts.logger.warn(
        'The HTTP framework reports a forwarded client address (Express `trust proxy` or Fastify `trustProxy`) but `bind.trustedProxies` is not set: `bind.ip` compares the TCP peer, your proxy, so every client behind it shares one address. Set `bind.trustedProxies` to the proxies in front of the app.',
      );
    }
    return peer;
  }
}
