/*
 * Live session refresh for a raw WebSocket (a browser `WebSocket` or a `ws` one) on
 * `WsTicketWsAdapter`: the frame `{"event":"ws-ticket:expiring",…}` in, a fresh ticket out in
 * `{"event":"ws-ticket:refresh","data":{"uuid":…}}`, and the server's answer frame of that name.
 */
import {
  MAX_REFRESH_FRAME_LENGTH,
  TICKET_EXPIRING_EVENT,
  TICKET_REFRESH_EVENT,
} from './client.constants.js';
import { RefreshGroup, SessionRefresher } from './session-refresh.js';
import type { TicketClientEvent } from './ticket-failure.js';
import { checkTicketRequestOptions, type TicketRequestOptions } from './ticket-request.js';

/** `WebSocket.OPEN`, the same in browsers and `ws`. */
const OPEN = 1;

/** A `message` event, as far as the helper reads it: text frames have a string `data`. */
export interface TicketRefreshEvent {
  readonly data: unknown;
}

/**
 * The parts of a WebSocket the helper uses, which a browser `WebSocket` and a `ws` `WebSocket`
 * both have (`ws` hands text frames to `addEventListener` listeners as strings).
 */
export interface TicketRefreshSocket {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'message', listener: (event: TicketRefreshEvent) => void): void;
  addEventListener(type: 'close', listener: (event: object) => void): void;
  removeEventListener(type: 'message', listener: (event: TicketRefreshEvent) => void): void;
  removeEventListener(type: 'close', listener: (event: object) => void): void;
}

/** Options of {@link attachTicketRefresh}. */
export interface AttachTicketRefreshOptions extends TicketRequestOptions {
  /**
   * Key of the refresh frame's `data` that carries the ticket (the module's `param`).
   * @default 'uuid'
   */
  param?: string | undefined;
  /**
   * Delay before retrying a refresh that failed, in milliseconds: doubles from `min` up to `max`,
   * with jitter, and starts over at each `ws-ticket:expiring`. A `min` below
   * `MIN_TICKET_RETRY_DELAY` (100 ms) is raised to it, and none exceeds `max` or 2^31 − 1 ms. A
   * `Retry-After` from the ticket endpoint (clamped to 1–300 s) replaces the delay when longer.
   * @default { min: 500, max: 10000 } (`DEFAULT_TICKET_RETRY_DELAY`)
   */
  retryDelay?: { min?: number | undefined; max?: number | undefined } | undefined;
  /**
   * Called when a refresh succeeded, with the session's new end (epoch milliseconds, server time;
   * `null` when the new token has no `exp`).
   */
  onRefreshed?: ((expiresAt: number | null) => void) | undefined;
  /**
   * Called on every failed refresh: the server's refusal code, a ticket request failure, or
   * `ticket_refresh_failed` (no answer within `requestTimeout`). `fatal: false` ones are retried
   * until the session ends, when the server closes the socket (close code 4001, reason
   * `session_expired`): open a new one with a new ticket. After a fatal one the helper has stopped
   * and the socket is closed: by the helper (1000, the code as reason), or, for `user_mismatch`, by
   * the server (4003).
   */
  onRefused?: ((event: TicketClientEvent) => void) | undefined;
}

/** Handle returned by {@link attachTicketRefresh}. */
export interface TicketRefreshHandle {
  /** Stops the helper: its listeners, and any refresh under way. The socket is left as it is. */
  detach(): void;
}

/**
 * Keeps a raw WebSocket's session alive: on the server's `ws-ticket:expiring` frame (its
 * `refreshWindow` before the session ends) the helper takes a new ticket through `getToken`
 * (return a fresh token there) and sends it in a `ws-ticket:refresh` frame, then waits up to
 * `requestTimeout` for the answer frame (one refresh at a time, so answers match by order). A
 * failure a retry may fix is reported (`fatal: false`) and retried with `retryDelay` until the
 * session ends; a fatal one stops the helper and closes the socket. Frames that are not the
 * module's (not text, over 4 KiB, not JSON, another event) are left to the app, untouched. Do
 * not send `ws-ticket:refresh` frames of your own while it is attached. The helper stops by itself
 * when the socket closes.
 *
 * ```js
 * const { uuid } = await fetchTicket(options);
 * const ws = new WebSocket(`wss://${location.host}/ws/chat`, ticketProtocols(uuid));
 * attachTicketRefresh(ws, { ...options, onRefused: (event) => console.warn(event.code) });
 * ```
 * @throws TypeError on invalid options (an `Authorization` in `requestInit.headers`…).
 */
export function attachTicketRefresh(
  socket: TicketRefreshSocket,
  options: AttachTicketRefreshOptions,
): TicketRefreshHandle {
  const checked = checkTicketRequestOptions(options);
  const param = options.param ?? 'uuid';
  /** Hands the answer frame to the refresh waiting for it. */
  let waiting: ((answer: unknown) => void) | undefined;
  /** Answers still to come for refreshes no longer waited for: the server answers each, in order. */
  let owed = 0;

  const refresher = new SessionRefresher(new RefreshGroup(), checked, options, {
    send: (uuid, signal) =>
      new Promise((resolve, reject) => {
        if (signal.aborted || socket.readyState !== OPEN) {
          reject(signal.aborted ? signal.reason : new Error('the WebSocket is not open'));
          return;
        }
        socket.send(JSON.stringify({ event: TICKET_REFRESH_EVENT, data: { [param]: uuid } }));
        const onAbort = () => {
          waiting = undefined;
          owed++;
          reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        waiting = (answer) => {
          signal.removeEventListener('abort', onAbort);
          waiting = undefined;
          resolve(answer);
        };
      }),
    stop: (event) => {
      detach();
      // The server closes with 4003 right behind a user_mismatch answer: closing first could
      // replace that code with ours.
      if (event.code !== 'user_mismatch' && socket.readyState === OPEN) {
        socket.close(1000, event.code);
      }
    },
  });

  const onMessage = (event: TicketRefreshEvent) => {
    const frame = moduleFrame(event.data);
    if (frame?.event === TICKET_EXPIRING_EVENT) {
      const expiresAt = (frame.data as { expiresAt?: unknown } | null | undefined)?.expiresAt;
      if (typeof expiresAt === 'number' && Number.isFinite(expiresAt))
        refresher.expiring(expiresAt);
    } else if (frame?.event === TICKET_REFRESH_EVENT) {
      if (owed > 0) owed--;
      else waiting?.(frame.data);
    }
  };
  const onClose = () => detach();
  const detach = () => {
    socket.removeEventListener('message', onMessage);
    socket.removeEventListener('close', onClose);
    waiting = undefined;
    refresher.dispose();
  };

  socket.addEventListener('message', onMessage);
  socket.addEventListener('close', onClose);
  refresher.opened();
  return { detach };
}

/**
 * The `{ event, data }` of a frame of the module's, or `undefined`: only short text frames that
 * name a `ws-ticket:` event are parsed at all, and nothing here throws.
 */
function moduleFrame(raw: unknown): { event: string; data: unknown } | undefined {
  if (typeof raw !== 'string' || raw.length > MAX_REFRESH_FRAME_LENGTH) return undefined;
  if (!raw.includes('"ws-ticket:')) return undefined;
  let frame: unknown;
  try {
    frame = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof frame !== 'object' || frame === null) return undefined;
  const { event, data } = frame as { event?: unknown; data?: unknown };
  return typeof event === 'string' ? { event, data } : undefined;
}
