/** Default ticket lifetime, in seconds. */
export const DEFAULT_TICKET_TTL = 30;
/** Default route of the built-in ticket endpoint (relative to any global prefix). */
export const DEFAULT_TICKET_PATH = 'auth/ws-ticket';
/** Default handshake `auth` key and query parameter that carry the ticket. */
export const DEFAULT_TICKET_PARAM = 'uuid';
/**
 * The algorithms a `jwt.secret` source accepts by default.
 * @deprecated Unused since the defaults depend on the key source (see `WsTicketJwtOptions.algorithms`);
 *   removed in the next major version.
 */
export const DEFAULT_JWT_ALGORITHMS = ['HS256'] as const;
/** Default prefix of ticket keys in the store. */
export const DEFAULT_KEY_PREFIX = 'ws-ticket:';
/** Default `refreshWindow`: seconds before a session's end when the server asks for a refresh. */
export const DEFAULT_REFRESH_WINDOW = 60;
/**
 * Refused `ws-ticket:refresh` attempts after which, for the rest of the minute, a connection's
 * refreshes are refused with `rate_limited` without touching the store (successful refreshes are
 * not counted); also how many of a connection's refreshes may wait their turn.
 */
export const WS_TICKET_REFRESH_LIMIT = 10;
/**
 * Default `maxConnectionsPerUser`: well above what one person opens (a Socket.IO connection per
 * browser tab, its namespaces counted once, across a few devices), well below what fills a server
 * (50 sockets of about 20 KB each is 1 MB per account).
 */
export const DEFAULT_MAX_CONNECTIONS_PER_USER = 50;
/** Default `connectionLease`: seconds a connection's slot outlives its last renewal. */
export const DEFAULT_CONNECTION_LEASE = 60;
/** Default upper bound on one store operation, in milliseconds. */
export const DEFAULT_STORE_TIMEOUT = 2000;
/** Default upper bound on one `resolveUser` or `allowedOrigins` call, in milliseconds. */
export const DEFAULT_CALLBACK_TIMEOUT = 5000;
/**
 * Default largest message a raw WebSocket client may send through `WsTicketWsAdapter`, in bytes:
 * 1 MiB, as Socket.IO's `maxHttpBufferSize` (the `ws` library alone allows 100 MiB).
 */
export const DEFAULT_WS_MAX_PAYLOAD = 1_048_576;
/** Longest bearer token the endpoint will look at, in characters. */
export const MAX_BEARER_LENGTH = 8192;

/** Strict lowercase RFC 4122 v4 UUID, the only shape `crypto.randomUUID()` produces. */
export const TICKET_FORMAT =
  /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Logger context used by every part of the module. */
export const WS_TICKET_LOGGER_CONTEXT = 'WsTicket';
