import type { WsTicketErrorCode } from './ws-ticket.errors.js';

/** What the ticket endpoint returns. */
export interface WsTicketResponse {
  /** The ticket: a random v4 UUID, valid once. */
  uuid: string;
  /** Seconds until the ticket expires. */
  expiresIn: number;
}

/** Request headers as Node, Express and Fastify hand them over (lowercase names). */
export type WsTicketHeaders = Record<string, string | string[] | undefined>;

/** The parts of a Socket.IO handshake (or a raw upgrade) the service reads. */
export interface WsTicketHandshake {
  /** Socket.IO `auth` payload. */
  auth?: Record<string, unknown> | undefined;
  /** Parsed query string; a repeated key is an array. */
  query?: Record<string, unknown> | undefined;
  /** Request headers (lowercase names). */
  headers?: WsTicketHeaders | undefined;
  /** Peer IP address. */
  address?: string | undefined;
}

/** The parts of an HTTP request the service reads when issuing (Express and Fastify both fit). */
export interface WsTicketRequest {
  headers?: WsTicketHeaders | undefined;
  /**
   * The client IP as the HTTP framework sees it. Read only when `socket` is absent: `bind.ip`
   * derives the address from the TCP peer and `bind.trustedProxies`, never from Express'
   * `trust proxy`, so that the ticket request and the handshake agree.
   */
  ip?: string | undefined;
  /** The TCP connection; its `remoteAddress` is the peer `bind.ip` starts from. */
  socket?: { remoteAddress?: string | undefined };
}

/**
 * Something that holds open connections and can close a user's: each adapter registers one.
 * @see WsTicketService.disconnectUser
 */
export interface WsTicketConnectionRegistry {
  /**
   * Closes the user's connections on this process with `code`, and returns how many it closed
   * (a connection multiplexing several namespaces counts once; nothing returned counts as 0).
   */
  disconnectUser(
    userId: string,
    code: WsTicketErrorCode,
  ): number | undefined | Promise<number | undefined>;
  /**
   * Whether the transport carries `disconnectUser` to the other instances itself (the Socket.IO
   * adapter's registry: through a Socket.IO adapter with `serverSideEmit`, such as
   * `@socket.io/redis-adapter`). When not (absent: not), the module passes the `disconnectUser()`
   * calls of other instances to this registry over the ticket store's channel between instances
   * (`RedisTicketStore`), and this instance listens to it.
   */
  readonly spansInstances?: boolean;
  /**
   * Tells the other instances that this one's handshake evicted some of the user's connections
   * (`onConnectionLimit: 'close-oldest'`), so that they close theirs at once rather than at their
   * next lease renewal; they pass the ids to `WsTicketService.evictConnections()`. Optional: a
   * registry that cannot reach other instances leaves it out.
   */
  announceEvictions?(userId: string, ids: readonly string[]): void;
}

/**
 * A physical connection as `WsTicketService.holdConnection()` counts it: an object that lives as
 * long as the connection and says once when it ends (Socket.IO's `socket.conn`, a TCP socket).
 */
export interface WsTicketConnection {
  once(event: 'close', listener: () => void): unknown;
}

/** Closes a connection whose slot was taken away, telling its client `code` (`connection_limit`). */
export type WsTicketConnectionLost = (code: WsTicketErrorCode) => void;
