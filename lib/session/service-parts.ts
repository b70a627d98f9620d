import type { Logger } from '@nestjs/common';
import { userIdReader } from '../bearer/user-id.js';
import type { ServiceOptions } from '../internal/service-options.js';
import { BoundedTicketStore } from '../stores/bounded-ticket-store.js';
import type { TicketStore } from '../stores/ticket-store.js';
import type { WsTicketTelemetry } from '../telemetry/ws-ticket-telemetry.js';
import type { WsTicketModuleOptions } from '../ws-ticket.options.js';
import { AppCallbacks } from './app-callbacks.js';
import { ConnectionLimit } from './connection-limit.js';
import { CONNECTION_LIMITS, ConnectionSessions } from './connection-sessions.js';
import { InstanceChannel } from './instance-channel.js';
import { IssueLimit } from './issue-limit.js';
import { OriginCheck } from './origin-check.js';
import type { RefusalLog } from './refusal-log.js';
import { Revocation } from './revocation.js';
import { SessionRefresh } from './session-refresh.js';
import { TicketBinding } from './ticket-binding.js';
import { TicketConsumer } from './ticket-consumer.js';
import { TicketIssuer } from './ticket-issuer.js';

/** Everything `WsTicketService` delegates to, wired once from its options. */
export interface ServiceParts<TUser> {
  callbacks: AppCallbacks<TUser>;
  tickets: BoundedTicketStore;
  revocation: Revocation;
  issuer: TicketIssuer;
  consumer: TicketConsumer<TUser>;
  refresh: SessionRefresh<TUser>;
  origins: OriginCheck;
  connections: ConnectionSessions<TUser>;
  /** Unset when `maxConnectionsPerUser` is off. */
  connectionLimit: ConnectionLimit | undefined;
  /** Messages to and from the other instances (when the store carries them). */
  channel: InstanceChannel;
}

/** What {@link serviceParts} needs besides the options. */
export interface ServicePartsContext {
  store: TicketStore;
  logger: Logger;
  refusals: RefusalLog;
  /** Reports a store failure (logged, throttled). */
  onStoreFailure: (error: unknown) => void;
  /** Reports a request refused by the issuance limit. */
  onRateLimited: () => void;
  /** Passes on evictions of other instances' connections (`close-oldest`). */
  onEvictions: (userId: string, ids: readonly string[]) => void;
  /** Where issues and refusals of tickets are published. */
  telemetry: WsTicketTelemetry;
}

/** Wires the service's parts: the data path is request → verify → issue → store → consume. */
export function serviceParts<TUser>(
  options: WsTicketModuleOptions<TUser>,
  checked: ServiceOptions<TUser>,
  context: ServicePartsContext,
): ServiceParts<TUser> {
  const { storeTimeout, callbackTimeout, issueLimit, ttl } = checked;
  const callbacks = new AppCallbacks(checked.resolveUser, callbackTimeout, context.refusals);
  const userIdOf = userIdReader(checked.getUserId);
  const binding = new TicketBinding(options.bind ?? {}, context.logger);
  const origins = new OriginCheck(options.allowedOrigins, callbacks);
  // Shared no longer than the ticket itself lives: later, the ticket is as dead as any other.
  const limits = {
    ...CONNECTION_LIMITS,
    shareWindow: Math.min(CONNECTION_LIMITS.shareWindow, ttl * 1000),
  };
  // What a revocation must outlive: a ticket's life, the longest handshake (origin check, take,
  // resolveUser, generation read) and the sharing of its consumption.
  const horizon = ttl * 1000 + 2 * callbackTimeout + 2 * storeTimeout + limits.shareWindow + 1000;
  const tickets = new BoundedTicketStore(
    context.store,
    { keyPrefix: checked.keyPrefix, timeout: storeTimeout, generationTtl: horizon },
    context.onStoreFailure,
  );
  if (
    checked.maxConnectionsPerUser !== false &&
    checked.connectionLease * 1000 < 3 * storeTimeout
  ) {
    context.logger.warn(
      `connectionLease (${checked.connectionLease} s) is shorter than three storeTimeouts ` +
        `(${(3 * storeTimeout) / 1000} s): a store that stalls can let connection slots lapse ` +
        'between renewals. Raise connectionLease or lower storeTimeout.',
    );
  }
  if (/\{[^}]+\}/.test(checked.keyPrefix)) {
    context.logger.warn(
      `keyPrefix holds a Redis hash tag (braces): on a Redis Cluster every key of the module ` +
        'then lands in one slot, on one shard. No command of the module needs two keys in one ' +
        'slot: remove the braces.',
    );
  }
  tickets.check(
    { issueLimit: issueLimit !== false, connectionLimit: checked.maxConnectionsPerUser !== false },
    context.logger,
  );
  const revocation = new Revocation(tickets, horizon);
  const issuer = new TicketIssuer({
    ttl,
    tickets,
    revocation,
    issueLimit:
      issueLimit === false
        ? undefined
        : new IssueLimit(issueLimit ?? {}, tickets, context.onRateLimited),
    binding,
    userIdOf,
    logger: context.logger,
    telemetry: context.telemetry,
  });
  const consumer = new TicketConsumer<TUser>({
    tickets,
    origins,
    binding,
    revocation,
    callbacks,
    userIdOf,
    closeOnSessionEnd: checked.closeOnSessionEnd,
  });
  return {
    callbacks,
    tickets,
    revocation,
    issuer,
    consumer,
    refresh: new SessionRefresh(consumer, revocation),
    channel: new InstanceChannel(tickets, context.logger),
    origins,
    connections: new ConnectionSessions<TUser>(limits, (session) => revocation.isRevoked(session)),
    connectionLimit:
      checked.maxConnectionsPerUser === false
        ? undefined
        : new ConnectionLimit(
            tickets,
            {
              max: checked.maxConnectionsPerUser,
              evictOldest: checked.onConnectionLimit === 'close-oldest',
              lease: checked.connectionLease * 1000,
            },
            context.onEvictions,
          ),
  };
}
