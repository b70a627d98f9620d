/** One metric the module's telemetry records: the same names in OpenTelemetry and Prometheus. */
export interface WsTicketMetric {
  /**
   * The OpenTelemetry instrument's name. Prometheus adds `_total` to a counter's: a Prometheus
   * exporter of OpenTelemetry and `nestjs-ws-ticket/prometheus` both expose `<name>_total`.
   */
  readonly name: string;
  readonly help: string;
  /** Its label (attribute) names, each holding a code, a result or a transport: never a user id. */
  readonly labels: readonly string[];
}

/**
 * What `nestjs-ws-ticket/prometheus` and the OpenTelemetry metrics record, per process. Labels:
 * `result` (`accepted` / `refused`, `refreshed` / `refused`), `code` (a refusal or close code; absent
 * on successes), `transport` (`socket.io` / `ws`), `action` (`tickets` / `disconnect`).
 */
export const WS_TICKET_METRICS = {
  /** Counter `ws_ticket_issued_total`: tickets issued. */
  issued: { name: 'ws_ticket_issued', help: 'WebSocket tickets issued.', labels: [] },
  /** Counter `ws_ticket_issue_refused_total{code}`: ticket requests refused. */
  issueRefused: {
    name: 'ws_ticket_issue_refused',
    help: 'WebSocket ticket requests refused, by code.',
    labels: ['code'],
  },
  /** Counter `ws_ticket_handshakes_total{result,code,transport}`. */
  handshakes: {
    name: 'ws_ticket_handshakes',
    help: 'WebSocket handshakes, by result (accepted, refused), refusal code and transport.',
    labels: ['result', 'code', 'transport'],
  },
  /** Histogram `ws_ticket_handshake_duration_seconds{result,transport}`. */
  handshakeDuration: {
    name: 'ws_ticket_handshake_duration_seconds',
    help: 'Time from a WebSocket handshake to its acceptance or refusal, in seconds.',
    labels: ['result', 'transport'],
  },
  /** Counter `ws_ticket_sessions_ended_total{code,transport}`: sockets the module closed. */
  sessionsEnded: {
    name: 'ws_ticket_sessions_ended',
    help: 'Authenticated sockets closed by the module, by code (session_expired, user_revoked…) and transport.',
    labels: ['code', 'transport'],
  },
  /**
   * Gauge `ws_ticket_open_sockets{transport}`: authenticated sockets open now, in this process (a
   * Socket.IO connection multiplexing two namespaces is two sockets).
   */
  openSockets: {
    name: 'ws_ticket_open_sockets',
    help: 'Authenticated sockets open now, by transport.',
    labels: ['transport'],
  },
  /** Counter `ws_ticket_session_refreshes_total{result,code,transport}`: live refreshes. */
  sessionRefreshes: {
    name: 'ws_ticket_session_refreshes',
    help: 'Live session refreshes (ws-ticket:refresh), by result, refusal code and transport.',
    labels: ['result', 'code', 'transport'],
  },
  /** Counter `ws_ticket_revocations_total{action}`: `revokeUserTickets()` / `disconnectUser()` calls. */
  revocations: {
    name: 'ws_ticket_revocations',
    help: 'revokeUserTickets() (tickets) and disconnectUser() (disconnect) calls made on this instance.',
    labels: ['action'],
  },
} as const satisfies Record<string, WsTicketMetric>;

/**
 * Bucket bounds of `ws_ticket_handshake_duration_seconds`, in seconds: from 1 ms (a memory store)
 * to the 10 s a slow `resolveUser` or store may take within the module's time limits.
 */
export const WS_TICKET_DURATION_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
