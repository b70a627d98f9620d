/*
 * socket.io-client integration: a fresh ticket for every connection attempt (`ticketAuth`) and the
 * reconnection policy around it (`attachTicketAuth`).
 */
import { backoff } from './backoff.js';
import { watchSessionRefresh } from './io-session-refresh.js';
import {
  asTicketRequestFailure,
  failureEvent,
  type TicketClientEvent,
  type TicketRequestFailure,
  WS_TICKET_FATAL_CODES,
} from './ticket-failure.js';
import {
  checkTicketRequestOptions,
  requestTicket,
  type TicketRequestOptions,
} from './ticket-request.js';

/** Options of {@link ticketAuth}. */
export interface TicketAuthOptions extends TicketRequestOptions {
  /**
   * Key of the `auth` payload that carries the ticket (the module's `param`).
   * @default 'uuid'
   */
  param?: string | undefined;
  /**
   * Called when a ticket request fails (not when it was superseded or aborted). The `auth` callback
   * is then never answered: socket.io-client sends no CONNECT without a ticket, and the attempt
   * waits, transport open, until you `socket.disconnect()` (and `socket.connect()` again later, when
   * `failure.fatal` is false) or the server's `connectTimeout` (45 s by default) closes the
   * transport and socket.io-client reconnects. `attachTicketAuth` does this for you.
   */
  onFailure?: ((failure: TicketRequestFailure) => void) | undefined;
}

/** The `auth` callback socket.io-client calls before every connection attempt. */
export interface TicketAuthCallback {
  (callback: (data: Record<string, unknown>) => void): void;
  /** The failure of the most recent finished ticket request, or `undefined` if it succeeded. */
  readonly lastFailure: TicketRequestFailure | undefined;
  /** Aborts the pending ticket request, if any: its `callback` is never called. */
  abort(): void;
}

/**
 * Builds the `auth` option for socket.io-client so that **every** connection attempt, automatic
 * reconnections included, fetches a fresh ticket (tickets are single use), with the guarantees of
 * `fetchTicket`. The latest call wins: a new call aborts the pending request, whose callback
 * is then never called, so a slow old answer cannot reach a newer connection. A failed request
 * never calls back (no handshake is ever sent without a ticket): it sets `lastFailure` and calls
 * `onFailure`, where the app decides whether to disconnect, retry or give up.
 *
 * ```js
 * const socket = io('/chat', {
 *   auth: ticketAuth({ ticketUrl: '/api/auth/ws-ticket', getToken, onFailure: () => socket.disconnect() }),
 * });
 * ```
 * @throws TypeError on invalid options (an `Authorization` in `requestInit.headers`…).
 */
export function ticketAuth(options: TicketAuthOptions): TicketAuthCallback {
  const checked = checkTicketRequestOptions(options);
  const param = options.param ?? 'uuid';
  let lastFailure: TicketRequestFailure | undefined;
  let pending: AbortController | undefined;
  const abort = () => {
    pending?.abort();
    pending = undefined;
  };
  const auth = (callback: (data: Record<string, unknown>) => void) => {
    abort();
    const current = new AbortController();
    pending = current;
    const settled = () => {
      if (pending !== current) return false; // superseded or aborted: dropped
      pending = undefined;
      return true;
    };
    requestTicket(checked, current.signal).then(
      (ticket) => {
        if (!settled()) return;
        lastFailure = undefined;
        callback({ [param]: ticket.uuid });
      },
      (error: unknown) => {
        if (!settled()) return;
        lastFailure = asTicketRequestFailure(error);
        // Never `callback({})`: a ticketless CONNECT only earns a ticket_missing refusal.
        options.onFailure?.(lastFailure);
      },
    );
  };
  return Object.defineProperties(auth, {
    lastFailure: { get: () => lastFailure },
    abort: { value: abort },
  }) as TicketAuthCallback;
}

/** The parts of a socket.io-client `Socket` the helper uses. */
export interface TicketSocket {
  auth: unknown;
  readonly active: boolean;
  /**
   * The socket's Manager: sockets of one Manager share a connection, whose session one refresh
   * extends, so their helpers make one refresh at a time between them. Without it, each socket
   * refreshes on its own.
   */
  readonly io?: object | undefined;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  emit(event: string, ...args: unknown[]): unknown;
  connect(): unknown;
  disconnect(): unknown;
}

/** Options of {@link attachTicketAuth}. */
export interface AttachTicketAuthOptions extends Omit<TicketAuthOptions, 'onFailure'> {
  /**
   * Delay before reconnecting after a refusal a new ticket may fix, and before retrying a session
   * refresh that failed, in milliseconds: doubles from `min` up to `max`, with jitter, and resets on
   * a successful connection (or refresh). A `min` below
   * `MIN_TICKET_RETRY_DELAY` (100 ms) is raised to it, no delay is shorter than that floor, and none
   * exceeds `max` or 2^31 − 1 ms (the longest timer). A `Retry-After` from the ticket endpoint
   * (clamped to 1–300 s) replaces the delay when it is longer, even beyond `max`.
   * @default { min: 500, max: 10000 } (`DEFAULT_TICKET_RETRY_DELAY`)
   */
  retryDelay?: { min?: number | undefined; max?: number | undefined } | undefined;
  /**
   * Called on every refusal, `unauthorized` event and ticket request failure, handshakes and
   * session refreshes alike (a refused refresh reports the server's code, `ticket_refresh_failed`
   * when no usable answer came). After a fatal one the helper has stopped: the socket is
   * disconnected and nothing is retried.
   */
  onRefused?: ((event: TicketClientEvent) => void) | undefined;
  /**
   * Called when a session refresh succeeded, with the session's new end (epoch milliseconds, server
   * time; `null` when the new token has no `exp`). The helper refreshes on the server's
   * `ws-ticket:expiring` with a ticket taken through `getToken` (return a fresh token there), and
   * waits `requestTimeout` ms for the server's answer. Also called for a socket whose session was
   * extended by the refresh of another socket on the same Manager.
   */
  onRefreshed?: ((expiresAt: number | null) => void) | undefined;
}

/** Handle returned by {@link attachTicketAuth}. */
export interface TicketAuthHandle {
  /**
   * Stops the helper (listeners, pending retries, the pending ticket request, whose answer is
   * dropped, and any session refresh under way); the socket is left as it is.
   */
  detach(): void;
}

/**
 * Wires a socket.io-client socket to the ticket flow: a fresh ticket for every connection attempt,
 * reconnection after refusals a new ticket can fix (`ticket_invalid`, `store_unavailable`,
 * `session_expired` with a refreshed token, `ticket_request_failed`, …), and a stop, reported as
 * `fatal`, on those it cannot ({@link WS_TICKET_FATAL_CODES}: `user_rejected`, `origin_forbidden`,
 * `user_revoked`…, and the fatal ticket request failures: 401/403, another 4xx such as a 404 from a
 * wrong `ticketUrl`, a `ticketUrl` that cannot be requested). No handshake is ever sent without a
 * ticket: when a ticket request fails, the helper disconnects the attempt (no CONNECT is sent),
 * then backs off and connects again, or stops when the failure is fatal. A pending ticket request
 * is aborted when the socket disconnects (a transport drop included), and a ticket that arrives
 * after the socket was closed is never sent.
 *
 * Live session refresh: when the server says `ws-ticket:expiring` (its `refreshWindow` before the
 * session ends), the helper takes a new ticket and sends it with `ws-ticket:refresh`, so that the
 * socket lives on without a reconnect (`onRefreshed`). A failure a retry may fix is reported
 * (`fatal: false`) and retried with `retryDelay` until the session ends; if none succeeds, the
 * server closes the socket with `session_expired` and the helper reconnects with a fresh ticket. A
 * fatal one (`user_mismatch`, a fatal ticket request failure…) stops the helper and disconnects
 * the socket. Sockets of one Manager make one refresh at a time between them.
 * Create the socket with `autoConnect: false`, attach, then call `socket.connect()`.
 * @throws TypeError on invalid options (an `Authorization` in `requestInit.headers`…).
 */
export function attachTicketAuth(
  socket: TicketSocket,
  options: AttachTicketAuthOptions,
): TicketAuthHandle {
  const checked = checkTicketRequestOptions(options);
  const tickets = ticketAuth({ ...options, onFailure: (failure) => onTicketFailure(failure) });
  const auth = Object.defineProperties(
    (callback: (data: Record<string, unknown>) => void) =>
      tickets((data) => {
        // socket.close() while the request was pending: no CONNECT for a closed socket.
        if (socket.active) callback(data);
      }),
    {
      lastFailure: { get: () => tickets.lastFailure },
      abort: { value: () => tickets.abort() },
    },
  ) as TicketAuthCallback;
  const nextDelay = backoff(options.retryDelay);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let closedFor: string | undefined;

  const report = (event: TicketClientEvent) => options.onRefused?.(event);
  const retry = (retryAfter?: number) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (!stopped) socket.connect();
    }, nextDelay(retryAfter));
  };

  const onTicketFailure = (failure: TicketRequestFailure) => {
    if (stopped || !socket.active) return; // detached, or closed by the app meanwhile
    // Ends the attempt without a CONNECT (and closes the transport if no other namespace uses it).
    socket.disconnect();
    report(failureEvent(failure));
    if (!failure.fatal) retry(failure.retryAfter);
  };
  const onConnect = () => {
    nextDelay.reset();
    closedFor = undefined;
  };
  const onConnectError = (...args: unknown[]) => {
    const error = args[0] as (Error & { data?: { code?: string } }) | undefined;
    if (socket.active) return; // transport-level failure: socket.io-client retries by itself
    // A server refusal: ticket request failures never reach a handshake (onTicketFailure).
    const code = error?.data?.code ?? error?.message ?? 'connect_error';
    const fatal = WS_TICKET_FATAL_CODES.includes(code);
    report({ code, fatal });
    if (!fatal) retry();
  };
  const onUnauthorized = (...args: unknown[]) => {
    closedFor = (args[0] as { code?: string } | undefined)?.code ?? 'unauthorized';
  };
  const onDisconnect = (...args: unknown[]) => {
    // The connection the pending request was for is gone; the next attempt asks again.
    auth.abort();
    const reason = args[0];
    if (reason !== 'io server disconnect') return; // other reasons reconnect by themselves
    if (closedFor === undefined) return; // the app closed the socket on purpose: respect it
    const fatal = WS_TICKET_FATAL_CODES.includes(closedFor);
    report({ code: closedFor, fatal });
    if (!fatal) retry();
  };

  const unwatch = watchSessionRefresh(socket, checked, {
    param: options.param ?? 'uuid',
    retryDelay: options.retryDelay,
    onRefreshed: options.onRefreshed,
    onRefused: options.onRefused,
    stop: () => {
      // Reported right after; a client-side disconnect reconnects on nothing.
      clearTimeout(timer);
      socket.disconnect();
    },
  });

  socket.auth = auth;
  socket.on('connect', onConnect);
  socket.on('connect_error', onConnectError);
  socket.on('unauthorized', onUnauthorized);
  socket.on('disconnect', onDisconnect);
  return {
    detach() {
      stopped = true;
      clearTimeout(timer);
      auth.abort();
      unwatch();
      socket.off('connect', onConnect);
      socket.off('connect_error', onConnectError);
      socket.off('unauthorized', onUnauthorized);
      socket.off('disconnect', onDisconnect);
    },
  };
}
