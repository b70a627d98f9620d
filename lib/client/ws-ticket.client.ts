/*
 * Browser and Node helper for socket.io-client. No Nest, no Node built-ins: it only needs `fetch`.
 * Import it from `nestjs-ws-ticket/client`.
 */

/** Refusal codes that a new ticket cannot fix: the helper stops reconnecting on them. */
export const WS_TICKET_FATAL_CODES: readonly string[] = [
  'user_rejected',
  'origin_forbidden',
  'user_revoked',
  'ticket_binding_mismatch',
];

/** Client-side code: the ticket endpoint refused the bearer token (401/403). Fatal. */
export const TICKET_REQUEST_UNAUTHORIZED = 'ticket_request_unauthorized';
/** Client-side code: the ticket endpoint could not be reached or answered an error. Retried. */
export const TICKET_REQUEST_FAILED = 'ticket_request_failed';

/** Options of {@link ticketAuth}. */
export interface TicketAuthOptions {
  /** URL of the ticket endpoint, e.g. `'/api/auth/ws-ticket'`. */
  ticketUrl: string;
  /**
   * Returns the current bearer token; refresh it here when needed. Called before every ticket
   * request. `null`/`undefined` means "not logged in": no request is made.
   */
  getToken: () => string | null | undefined | Promise<string | null | undefined>;
  /**
   * Key of the `auth` payload that carries the ticket (the module's `param`).
   * @default 'uuid'
   */
  param?: string;
  /** `fetch` to use. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Extra `fetch` options for the ticket request (e.g. `credentials`). */
  requestInit?: RequestInit;
}

/** Why the last ticket request failed, when it did. */
export interface TicketRequestFailure {
  code: typeof TICKET_REQUEST_UNAUTHORIZED | typeof TICKET_REQUEST_FAILED;
  /** HTTP status, when the endpoint answered. */
  status?: number;
  /** Seconds to wait, from `Retry-After` (429, 503). */
  retryAfter?: number;
}

/** The `auth` callback socket.io-client calls before every connection attempt. */
export interface TicketAuthCallback {
  (callback: (data: Record<string, unknown>) => void): void;
  /** The failure of the most recent ticket request, or `undefined` if it succeeded. */
  readonly lastFailure: TicketRequestFailure | undefined;
}

/**
 * Builds the `auth` option for socket.io-client so that **every** connection attempt, automatic
 * reconnections included, fetches a fresh ticket (tickets are single use).
 *
 * ```js
 * const socket = io('/chat', { auth: ticketAuth({ ticketUrl: '/api/auth/ws-ticket', getToken }) });
 * ```
 */
export function ticketAuth(options: TicketAuthOptions): TicketAuthCallback {
  const param = options.param ?? 'uuid';
  let lastFailure: TicketRequestFailure | undefined;
  const auth = ((callback: (data: Record<string, unknown>) => void) => {
    requestTicket(options).then(
      (uuid) => {
        lastFailure = undefined;
        callback({ [param]: uuid });
      },
      (failure: TicketRequestFailure) => {
        lastFailure = failure;
        // The handshake then fails with ticket_missing; attachTicketAuth() reads lastFailure.
        callback({});
      },
    );
  }) as TicketAuthCallback;
  Object.defineProperty(auth, 'lastFailure', { get: () => lastFailure });
  return auth;
}

async function requestTicket(options: TicketAuthOptions): Promise<string> {
  const token = await options.getToken();
  if (!token) throw { code: TICKET_REQUEST_UNAUTHORIZED } satisfies TicketRequestFailure;
  const doFetch = options.fetch ?? globalThis.fetch;
  let response: Response;
  try {
    response = await doFetch(options.ticketUrl, {
      ...options.requestInit,
      method: 'POST',
      headers: { ...headersOf(options.requestInit), authorization: `Bearer ${token}` },
    });
  } catch {
    throw { code: TICKET_REQUEST_FAILED } satisfies TicketRequestFailure;
  }
  if (response.status === 401 || response.status === 403) {
    throw {
      code: TICKET_REQUEST_UNAUTHORIZED,
      status: response.status,
    } satisfies TicketRequestFailure;
  }
  const body = response.ok
    ? ((await response.json().catch(() => undefined)) as { uuid?: unknown })
    : undefined;
  if (!response.ok || typeof body?.uuid !== 'string') {
    const retryAfter = Number(response.headers.get('retry-after'));
    throw {
      code: TICKET_REQUEST_FAILED,
      status: response.status,
      retryAfter: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
    } satisfies TicketRequestFailure;
  }
  return body.uuid;
}

function headersOf(init: RequestInit | undefined): Record<string, string> {
  const headers = init?.headers;
  if (!headers) return {};
  if (Array.isArray(headers)) return Object.fromEntries(headers);
  if (typeof (headers as Headers).forEach === 'function') {
    const out: Record<string, string> = {};
    (headers as Headers).forEach((value, key) => {
      out[key] = value;
    });
    return out;
  }
  return headers as Record<string, string>;
}

/** The parts of a socket.io-client `Socket` the helper uses. */
export interface TicketSocket {
  auth: unknown;
  readonly active: boolean;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
  connect(): unknown;
}

/** A refusal or closure as the helper reports it. */
export interface TicketClientEvent {
  /** A server code (`ticket_invalid`, `session_expired`, …) or a client-side one. */
  code: string;
  /** True when the helper gave up: a new ticket cannot fix it. */
  fatal: boolean;
  /** HTTP status of the ticket endpoint, for client-side codes. */
  status?: number;
}

/** Options of {@link attachTicketAuth}. */
export interface AttachTicketAuthOptions extends TicketAuthOptions {
  /**
   * Delay before reconnecting after a refusal a new ticket may fix, in milliseconds: doubles from
   * `min` up to `max`, with jitter, and resets on a successful connection.
   * @default { min: 500, max: 10000 }
   */
  retryDelay?: { min?: number; max?: number };
  /** Called on every refusal, `unauthorized` event and ticket request failure. */
  onRefused?: (event: TicketClientEvent) => void;
}

/** Handle returned by {@link attachTicketAuth}. */
export interface TicketAuthHandle {
  /** Stops the helper (listeners and pending retries); the socket is left as it is. */
  detach(): void;
}

/**
 * Wires a socket.io-client socket to the ticket flow: a fresh ticket for every connection attempt,
 * reconnection after refusals a new ticket can fix (`ticket_invalid`, `store_unavailable`,
 * `session_expired` with a refreshed token, …), and a stop, reported as `fatal`, on those it cannot
 * (`user_rejected`, `origin_forbidden`, `user_revoked`, a 401 from the ticket endpoint).
 * Create the socket with `autoConnect: false`, attach, then call `socket.connect()`.
 */
export function attachTicketAuth(
  socket: TicketSocket,
  options: AttachTicketAuthOptions,
): TicketAuthHandle {
  const auth = ticketAuth(options);
  const min = options.retryDelay?.min ?? 500;
  const max = options.retryDelay?.max ?? 10_000;
  let attempt = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let closedFor: string | undefined;

  const report = (event: TicketClientEvent) => options.onRefused?.(event);
  const retry = (seconds?: number) => {
    const backoff = Math.min(max, min * 2 ** attempt++);
    const delay = seconds ? seconds * 1000 : backoff / 2 + Math.random() * (backoff / 2);
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (!stopped) socket.connect();
    }, delay);
  };

  const onConnect = () => {
    attempt = 0;
    closedFor = undefined;
  };
  const onConnectError = (...args: unknown[]) => {
    const error = args[0] as (Error & { data?: { code?: string } }) | undefined;
    if (socket.active) return; // transport-level failure: socket.io-client retries by itself
    const failure = auth.lastFailure;
    if (failure) {
      const fatal = failure.code === TICKET_REQUEST_UNAUTHORIZED;
      report({ code: failure.code, fatal, status: failure.status });
      if (!fatal) retry(failure.retryAfter);
      return;
    }
    const code = error?.data?.code ?? error?.message ?? 'connect_error';
    const fatal = WS_TICKET_FATAL_CODES.includes(code);
    report({ code, fatal });
    if (!fatal) retry();
  };
  const onUnauthorized = (...args: unknown[]) => {
    closedFor = (args[0] as { code?: string } | undefined)?.code ?? 'unauthorized';
  };
  const onDisconnect = (...args: unknown[]) => {
    const reason = args[0];
    if (reason !== 'io server disconnect') return; // other reasons reconnect by themselves
    if (closedFor === undefined) return; // the app closed the socket on purpose: respect it
    const fatal = WS_TICKET_FATAL_CODES.includes(closedFor);
    report({ code: closedFor, fatal });
    if (!fatal) retry();
  };

  socket.auth = auth;
  socket.on('connect', onConnect);
  socket.on('connect_error', onConnectError);
  socket.on('unauthorized', onUnauthorized);
  socket.on('disconnect', onDisconnect);
  return {
    detach() {
      stopped = true;
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('connect_error', onConnectError);
      socket.off('unauthorized', onUnauthorized);
      socket.off('disconnect', onDisconnect);
    },
  };
}
