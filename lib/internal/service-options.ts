import {
  DEFAULT_CALLBACK_TIMEOUT,
  DEFAULT_CONNECTION_LEASE,
  DEFAULT_KEY_PREFIX,
  DEFAULT_MAX_CONNECTIONS_PER_USER,
  DEFAULT_REFRESH_WINDOW,
  DEFAULT_STORE_TIMEOUT,
  DEFAULT_TICKET_PARAM,
  DEFAULT_TICKET_TTL,
} from '../ws-ticket.constants.js';
import type {
  WsTicketConnectionLimitAction,
  WsTicketIssueLimit,
  WsTicketModuleOptions,
  WsTicketResolveUser,
  WsTicketUserIdOf,
} from '../ws-ticket.options.js';
import {
  callback,
  flag,
  numberHint,
  optionObject,
  positive,
  positiveOrOff,
  received,
} from './options.js';

const PARAM_FORMAT = /^[A-Za-z0-9_-]{1,64}$/;

/** The service's scalar options, checked and with their defaults. */
export interface ServiceOptions<TUser> {
  /** Seconds. */
  ttl: number;
  /** Milliseconds. */
  storeTimeout: number;
  /** Milliseconds. */
  callbackTimeout: number;
  param: string;
  keyPrefix: string;
  closeOnSessionEnd: boolean;
  /** Seconds; 0: no `ws-ticket:expiring`. */
  refreshWindow: number;
  resolveUser: WsTicketResolveUser<TUser> | undefined;
  getUserId: WsTicketUserIdOf | undefined;
  /** `false`: switched off. */
  issueLimit: WsTicketIssueLimit | false | undefined;
  /** Connections per user; `false`: switched off. */
  maxConnectionsPerUser: number | false;
  onConnectionLimit: WsTicketConnectionLimitAction;
  /** Seconds. */
  connectionLease: number;
}

/**
 * Checks the options `WsTicketService` reads itself and applies their defaults; each error names the
 * option, what it expects and what it received (never a secret's value). The parts the service
 * delegates (`bind`, `allowedOrigins`) are checked where they are used; `jwt` by `WsTicketBearerVerifier`.
 */
export function serviceOptions<TUser>(
  options: WsTicketModuleOptions<TUser>,
): ServiceOptions<TUser> {
  const param = options.param ?? DEFAULT_TICKET_PARAM;
  if (typeof param !== 'string' || !PARAM_FORMAT.test(param)) {
    throw new Error(
      `WsTicketModule: \`param\` must be 1-64 letters, digits, "_" or "-"; received ${received(param)}.`,
    );
  }
  const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
  if (typeof keyPrefix !== 'string') {
    throw new Error(
      `WsTicketModule: \`keyPrefix\` must be a string, e.g. '${DEFAULT_KEY_PREFIX}'; received ${received(keyPrefix)}.`,
    );
  }
  return {
    ttl: positive(options.ttl ?? DEFAULT_TICKET_TTL, 'ttl', 'seconds', DEFAULT_TICKET_TTL),
    storeTimeout: positive(
      options.storeTimeout ?? DEFAULT_STORE_TIMEOUT,
      'storeTimeout',
      'milliseconds',
      DEFAULT_STORE_TIMEOUT,
    ),
    callbackTimeout: positive(
      options.callbackTimeout ?? DEFAULT_CALLBACK_TIMEOUT,
      'callbackTimeout',
      'milliseconds',
      DEFAULT_CALLBACK_TIMEOUT,
    ),
    param,
    keyPrefix,
    closeOnSessionEnd: flag(options.closeOnSessionEnd, 'closeOnSessionEnd') ?? true,
    refreshWindow: positiveOrOff(
      options.refreshWindow ?? DEFAULT_REFRESH_WINDOW,
      'refreshWindow',
      'seconds',
      DEFAULT_REFRESH_WINDOW,
      'for no ws-ticket:expiring event',
    ),
    resolveUser: callback(
      options.resolveUser,
      'resolveUser',
      '(claims) => users.findActive(claims.sub)',
    ),
    getUserId: callback(options.getUserId, 'getUserId', '(claims) => claims.userId'),
    issueLimit:
      options.issueLimit === false
        ? false
        : optionObject(options.issueLimit, 'issueLimit', '{ limit: 60, window: 60 } or false'),
    maxConnectionsPerUser: connectionCap(options.maxConnectionsPerUser),
    onConnectionLimit: connectionLimitAction(options.onConnectionLimit),
    connectionLease: leaseOf(options.connectionLease),
  };
}

const LIMIT_ACTIONS: readonly WsTicketConnectionLimitAction[] = ['refuse', 'close-oldest'];

/** `maxConnectionsPerUser`: a whole number of connections, or 0 / `false` for no cap. */
function connectionCap(value: unknown): number | false {
  if (value === undefined) return DEFAULT_MAX_CONNECTIONS_PER_USER;
  if (value === false || value === 0) return false;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new Error(
      `WsTicketModule: \`maxConnectionsPerUser\` must be a whole number of connections (e.g. ${DEFAULT_MAX_CONNECTIONS_PER_USER}), or 0 / false for no cap; received ${received(value)}${numberHint(value)}.`,
    );
  }
  return value;
}

function connectionLimitAction(value: unknown): WsTicketConnectionLimitAction {
  if (value === undefined) return 'refuse';
  if (!LIMIT_ACTIONS.includes(value as WsTicketConnectionLimitAction)) {
    throw new Error(
      `WsTicketModule: \`onConnectionLimit\` must be 'refuse' or 'close-oldest'; received ${received(value)}.`,
    );
  }
  return value as WsTicketConnectionLimitAction;
}

/** Longest `connectionLease`, seconds: a day (a third of it must fit a timer). */
const MAX_CONNECTION_LEASE = 86_400;

/** `connectionLease`: 1 second to a day, so that renewals (every third of it) stay sparse. */
function leaseOf(value: unknown): number {
  const lease = positive(
    value ?? DEFAULT_CONNECTION_LEASE,
    'connectionLease',
    'seconds',
    DEFAULT_CONNECTION_LEASE,
  );
  if (lease < 1 || lease > MAX_CONNECTION_LEASE) {
    throw new Error(
      `WsTicketModule: \`connectionLease\` must be from 1 to ${MAX_CONNECTION_LEASE} seconds (e.g. ${DEFAULT_CONNECTION_LEASE}); received ${received(value)}.`,
    );
  }
  return lease;
}
