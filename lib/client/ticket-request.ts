/*
 * One ticket request, hardened: a time limit, an abort signal, no redirects, no second
 * Authorization, and a bounded, validated answer. Shared by the Socket.IO helpers and raw-ws users.
 */
import { DEFAULT_TICKET_REQUEST_TIMEOUT, MAX_TIMER_DELAY } from './client.constants.js';
import {
  TICKET_REQUEST_FAILED,
  TICKET_REQUEST_REJECTED,
  TICKET_REQUEST_UNAUTHORIZED,
  TICKET_URL_INVALID,
  TicketRequestFailure,
} from './ticket-failure.js';
import {
  discard,
  isTicketUuid,
  readTicket,
  retryAfterOf,
  type TicketGrant,
  untilAborted,
} from './ticket-response.js';

/** The server's `WS_TICKET_PROTOCOL` marker, repeated here: the client imports nothing. */
const TICKET_PROTOCOL = 'ws-ticket';

/**
 * `fetch` options the app may add to the ticket request (`credentials`, `mode`, extra headers…).
 * The method (`POST`), `redirect` (`'error'`) and `signal` are always the helper's, and `headers`
 * must not carry `Authorization`: the helper sends `Bearer <token from getToken>` itself.
 */
export type TicketRequestInit = Omit<RequestInit, 'method' | 'redirect' | 'signal'>;

/**
 * Options of {@link fetchTicket}, shared by `ticketAuth`, `attachTicketAuth` and
 * `attachTicketRefresh`.
 */
export interface TicketRequestOptions {
  /** URL of the ticket endpoint, e.g. `'/api/auth/ws-ticket'`. */
  ticketUrl: string | URL;
  /**
   * Returns the current bearer token; refresh it here when needed. Called before every ticket
   * request, within its `requestTimeout`. `null`/`undefined`/`''` means "not logged in": no request
   * is made and the attempt fails with `ticket_request_unauthorized`. A throw or a rejection fails
   * the attempt with `ticket_request_failed`, the error kept as `cause`.
   */
  getToken: () => string | null | undefined | Promise<string | null | undefined>;
  /** `fetch` to use. @default globalThis.fetch, looked up at each request */
  fetch?: typeof fetch | undefined;
  /**
   * Extra `fetch` options for the ticket request (e.g. `credentials`). An `Authorization` header in
   * `headers` (any case, any `HeadersInit` shape) is refused with a `TypeError` when the helper is
   * created: return the token from `getToken` instead.
   */
  requestInit?: TicketRequestInit | undefined;
  /**
   * Time limit of one ticket request, in milliseconds: `getToken`, the response and its body
   * together. Past it the request is aborted and fails with `ticket_request_failed`. The session
   * refresh helpers also wait this long for the server's answer to a refresh (past it:
   * `ticket_refresh_failed`, retried). Capped at 2^31 − 1 ms (the longest timer).
   * @default 10000 (`DEFAULT_TICKET_REQUEST_TIMEOUT`)
   */
  requestTimeout?: number | undefined;
}

export type { TicketGrant };

/** Options after the construction-time checks. */
export interface CheckedTicketRequest {
  readonly options: TicketRequestOptions;
  /** Milliseconds, within 1..MAX_TIMER_DELAY. */
  readonly timeout: number;
}

/**
 * Requests one ticket, for a raw WebSocket or any client of your own. Resolves the ticket, or
 * rejects with a {@link TicketRequestFailure}. Fatal (`fatal: true`, do not retry):
 * `ticket_request_unauthorized` when there is no token or the endpoint answers 401/403,
 * `ticket_request_rejected` for another 4xx than 408, 425 and 429 (a 404 from a `ticketUrl` that
 * misses the global prefix…), `ticket_url_invalid` for a `ticketUrl` that cannot be requested.
 * `ticket_request_failed` for everything else, worth retrying (unreachable, `requestTimeout`
 * passed, `signal` aborted, a redirect, 5xx, 408, 425 or 429 — with `retryAfter` when the answer
 * had one —, a body over 4 KiB or that is not `{ uuid: <v4 UUID>, expiresIn: <seconds> }`).
 *
 * ```js
 * const { uuid } = await fetchTicket({ ticketUrl: '/api/auth/ws-ticket', getToken });
 * const ws = new WebSocket(`wss://${location.host}/ws/chat`, ticketProtocols(uuid));
 * ```
 * @throws TypeError, synchronously, on invalid options (an `Authorization` in `requestInit.headers`…).
 */
export function fetchTicket(
  options: TicketRequestOptions,
  signal?: AbortSignal,
): Promise<TicketGrant> {
  return requestTicket(checkTicketRequestOptions(options), signal);
}

/**
 * The `Sec-WebSocket-Protocol` entries that carry a ticket to a raw WebSocket server
 * (`WsTicketWsAdapter`): the `ws-ticket` marker and `ws-ticket.<uuid>`. Add your own subprotocols
 * after them. `new WebSocket(url, ticketProtocols(uuid))`.
 * @throws TypeError when `uuid` is not a ticket (a lowercase v4 UUID).
 */
export function ticketProtocols(uuid: string): string[] {
  if (!isTicketUuid(uuid)) throw new TypeError('ticketProtocols: uuid is not a ticket');
  return [TICKET_PROTOCOL, `${TICKET_PROTOCOL}.${uuid}`];
}

/** Checks options once, when a helper is created, and throws a `TypeError` naming the fix. */
export function checkTicketRequestOptions(options: TicketRequestOptions): CheckedTicketRequest {
  const fail = (message: string) => new TypeError(`nestjs-ws-ticket/client: ${message}`);
  if (typeof options !== 'object' || options === null) throw fail('options are required');
  if (typeof options.ticketUrl !== 'string' && !(options.ticketUrl instanceof URL)) {
    throw fail('ticketUrl must be a string or a URL');
  }
  if (typeof options.getToken !== 'function') throw fail('getToken must be a function');
  if (options.fetch !== undefined && typeof options.fetch !== 'function') {
    throw fail('fetch must be a function');
  }
  const timeout = options.requestTimeout ?? DEFAULT_TICKET_REQUEST_TIMEOUT;
  if (typeof timeout !== 'number' || !(timeout > 0)) {
    throw fail('requestTimeout must be a positive number of milliseconds');
  }
  if (new Headers(options.requestInit?.headers).has('authorization')) {
    throw fail(
      'requestInit.headers must not set Authorization: the helper sends the bearer token itself. ' +
        'Return the token from getToken instead.',
    );
  }
  return { options, timeout: Math.min(Math.max(1, timeout), MAX_TIMER_DELAY) };
}

/** One ticket request under its time limit; aborting `outer` aborts it too. */
export async function requestTicket(
  checked: CheckedTicketRequest,
  outer?: AbortSignal,
): Promise<TicketGrant> {
  const controller = new AbortController();
  const timer = setTimeout(() => {
    const message = `ticket request timed out after ${checked.timeout} ms`;
    controller.abort(new DOMException(message, 'TimeoutError'));
  }, checked.timeout);
  const onAbort = () => controller.abort(outer?.reason);
  if (outer?.aborted) onAbort();
  else outer?.addEventListener('abort', onAbort, { once: true });
  try {
    return await attempt(checked.options, controller.signal);
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onAbort);
  }
}

async function attempt(options: TicketRequestOptions, signal: AbortSignal): Promise<TicketGrant> {
  const failed = (init: ConstructorParameters<typeof TicketRequestFailure>[1]) =>
    new TicketRequestFailure(TICKET_REQUEST_FAILED, init);
  checkTicketUrl(options);
  let token: string | null | undefined;
  try {
    token = await untilAborted(
      Promise.resolve().then(() => options.getToken()),
      signal,
    );
  } catch (cause) {
    throw failed({ cause });
  }
  if (!token) throw new TicketRequestFailure(TICKET_REQUEST_UNAUTHORIZED);

  let response: Response;
  try {
    const headers = new Headers(options.requestInit?.headers);
    // set(), not append(): whatever the app's headers became since, one Authorization is sent.
    headers.set('authorization', `Bearer ${token}`);
    const doFetch = options.fetch ?? globalThis.fetch;
    const pending = Promise.resolve().then(() =>
      doFetch(options.ticketUrl, {
        ...options.requestInit,
        headers,
        method: 'POST',
        redirect: 'error',
        signal,
      }),
    );
    // A fetch that ignored the signal and answers late: its body is never read.
    pending.then(
      (late) => signal.aborted && discard(late),
      () => {},
    );
    response = await untilAborted(pending, signal);
    if (typeof response?.status !== 'number' || typeof response.headers?.get !== 'function') {
      throw new TypeError('fetch did not resolve a Response');
    }
  } catch (cause) {
    throw failed({ cause });
  }

  const status = response.status || undefined;
  if (response.redirected || response.type === 'opaqueredirect') {
    // A fetch that followed or kept a redirect although told not to: the 3xx is not visible.
    discard(response);
    throw failed({ cause: new TypeError('the ticket endpoint redirected') });
  }
  if (status === 401 || status === 403) {
    discard(response);
    throw new TicketRequestFailure(TICKET_REQUEST_UNAUTHORIZED, { status });
  }
  if (status !== undefined && status >= 400 && status < 500 && !RETRYABLE_4XX.has(status)) {
    discard(response);
    throw new TicketRequestFailure(TICKET_REQUEST_REJECTED, { status });
  }
  if (!response.ok) {
    discard(response);
    throw failed({ status, retryAfter: retryAfterOf(response.headers) });
  }
  try {
    return await readTicket(response, signal);
  } catch (cause) {
    throw cause instanceof TicketRequestFailure ? cause : failed({ status, cause });
  }
}

/** 4xx answers that say "later", not "never": Request Timeout, Too Early, Too Many Requests. */
const RETRYABLE_4XX = new Set([408, 425, 429]);

/**
 * Throws `ticket_url_invalid` for a `ticketUrl` the default `fetch` cannot request: unparseable,
 * relative without a page to resolve it against (Node has no `location`), or not http(s). A custom
 * `fetch` may resolve relative URLs itself, so it receives them; an unparseable one is refused
 * whatever the `fetch`.
 */
function checkTicketUrl(options: TicketRequestOptions): void {
  const base = (globalThis as { location?: { href?: unknown } }).location?.href;
  const raw = String(options.ticketUrl);
  let url: URL;
  try {
    url = new URL(raw, typeof base === 'string' ? base : undefined);
  } catch (cause) {
    const relative = parses(raw, 'http://ticket-url.invalid/');
    if (options.fetch !== undefined && relative) return;
    const reason = relative
      ? 'ticketUrl is relative and there is no page to resolve it against: pass an absolute URL'
      : 'ticketUrl is not a URL';
    throw new TicketRequestFailure(TICKET_URL_INVALID, { cause: new TypeError(reason, { cause }) });
  }
  if (options.fetch === undefined && url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TicketRequestFailure(TICKET_URL_INVALID, {
      cause: new TypeError(`ticketUrl must be http: or https:, not ${url.protocol}`),
    });
  }
}

/** `URL.canParse`, which older browsers lack. */
function parses(url: string, base: string): boolean {
  try {
    new URL(url, base);
    return true;
  } catch {
    return false;
  }
}
