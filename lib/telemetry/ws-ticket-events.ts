import type { BearerRefusal } from '../bearer/bearer.errors.js';
import type { WsTicketErrorCode } from '../ws-ticket.errors.js';

/**
 * The `node:diagnostics_channel` names the module publishes on. Subscribe with
 * `subscribe(WS_TICKET_CHANNELS.accept, (event) => …)`; nothing is built or published while a
 * channel has no subscriber. Events carry user ids, codes, transports, namespaces and durations:
 * never a ticket, a token, claims, headers or addresses. Channels are process-wide: two apps in one
 * process publish on the same ones.
 */
export const WS_TICKET_CHANNELS = {
  /** A ticket was issued ({@link WsTicketIssueEvent}): the endpoint, or `WsTicketService.issue()`. */
  issue: 'nestjs-ws-ticket:issue',
  /** A ticket request or a handshake was refused ({@link WsTicketRefuseEvent}). */
  refuse: 'nestjs-ws-ticket:refuse',
  /** A socket was authenticated and connected ({@link WsTicketAcceptEvent}). */
  accept: 'nestjs-ws-ticket:accept',
  /** An authenticated socket closed, for whatever reason ({@link WsTicketSessionEndEvent}). */
  sessionEnd: 'nestjs-ws-ticket:session-end',
  /** `revokeUserTickets()` or `disconnectUser()` was called here ({@link WsTicketRevokeEvent}). */
  revoke: 'nestjs-ws-ticket:revoke',
  /** A live session refresh was applied or refused ({@link WsTicketRefreshEvent}). */
  refresh: 'nestjs-ws-ticket:refresh',
} as const;

/** The WebSocket transport of an event: `WsTicketIoAdapter` or `WsTicketWsAdapter`. */
export type WsTicketTransport = 'socket.io' | 'ws';

/** Why a ticket request or a handshake was refused: an error code of the module. */
export type WsTicketRefusalCode = WsTicketErrorCode | BearerRefusal;

/** Where a socket event happened. */
export interface WsTicketSocketEventBase {
  /** The socket's user id (`getUserId`). */
  userId: string;
  transport: WsTicketTransport;
  /** The Socket.IO namespace (`/chat`), or the raw WebSocket's path (`/ws/chat`). */
  namespace: string;
}

/** Published on {@link WS_TICKET_CHANNELS}`.issue`. */
export interface WsTicketIssueEvent {
  /** Whom the ticket names (`getUserId`). */
  userId: string;
  /** From the request reaching the service to the ticket stored (bearer check included), in ms. */
  durationMs: number;
}

/** Published on {@link WS_TICKET_CHANNELS}`.refuse`. */
export interface WsTicketRefuseEvent {
  /** `issue`: the ticket endpoint (or `WsTicketService.issue()`); `handshake`: a WebSocket's. */
  stage: 'issue' | 'handshake';
  code: WsTicketRefusalCode;
  /** `http` for `stage: 'issue'`. */
  transport: WsTicketTransport | 'http';
  /** The Socket.IO namespace or raw WebSocket path of a handshake; `null` for `stage: 'issue'`. */
  namespace: string | null;
  /** From the start of the request or handshake to its refusal, in ms. */
  durationMs: number;
}

/** Published on {@link WS_TICKET_CHANNELS}`.accept`. */
export interface WsTicketAcceptEvent extends WsTicketSocketEventBase {
  /** From the start of the handshake to the socket's connection, in ms. */
  durationMs: number;
}

/** Published on {@link WS_TICKET_CHANNELS}`.sessionEnd`. */
export interface WsTicketSessionEndEvent extends WsTicketSocketEventBase {
  /**
   * Why the module closed the socket (`session_expired`, `user_revoked`, `connection_limit`,
   * `user_mismatch`, or the code given to `disconnectUser()`); `null` when the client left or the
   * app closed it.
   */
  code: WsTicketErrorCode | null;
  /** How long the socket was connected, in ms. */
  durationMs: number;
}

/** Published on {@link WS_TICKET_CHANNELS}`.revoke`, on the instance where the call was made. */
export interface WsTicketRevokeEvent {
  userId: string;
  /** `tickets`: `revokeUserTickets()`; `disconnect`: `disconnectUser()`. */
  action: 'tickets' | 'disconnect';
  /** The code the sockets were closed with; `null` for `tickets`. */
  code: WsTicketErrorCode | null;
}

/** Published on {@link WS_TICKET_CHANNELS}`.refresh`. */
export interface WsTicketRefreshEvent extends WsTicketSocketEventBase {
  result: 'refreshed' | 'refused';
  /** The refusal's code; `null` when refreshed. */
  code: WsTicketErrorCode | null;
  /** From the `ws-ticket:refresh` event to its answer, in ms. */
  durationMs: number;
}
