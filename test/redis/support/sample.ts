import { randomUUID } from 'node:crypto';
import type { Socket } from 'socket.io-client';
import { type ConnectOutcome, connect } from '../../support/sockets.js';
import { HANG_BOUND } from './http.js';

/** The sample's ticket endpoint (behind its global `api` prefix). */
export const SAMPLE_TICKET_PATH = '/api/auth/ws-ticket';

/** POSTs to a sample route with a bearer token, bounded by {@link HANG_BOUND}. */
export function postAs(url: string, path: string, token: string): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(HANG_BOUND),
  });
}

/** Logs in to the sample; resolves the response (200 with `access_token`, or the refusal). */
export function loginResponse(url: string, username: string): Promise<Response> {
  return fetch(`${url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: `${username}-password` }),
    signal: AbortSignal.timeout(HANG_BOUND),
  });
}

/** Logs in and returns the access token, failing unless the sample answers 200. */
export async function tokenFor(url: string, username: string): Promise<string> {
  const response = await loginResponse(url, username);
  if (response.status !== 200) throw new Error(`login answered ${response.status}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

/** Issues a ticket on the sample, failing unless the endpoint answers 201. */
export async function sampleTicket(url: string, token: string): Promise<string> {
  const response = await postAs(url, SAMPLE_TICKET_PATH, token);
  if (response.status !== 201) throw new Error(`ticket endpoint answered ${response.status}`);
  return ((await response.json()) as { uuid: string }).uuid;
}

/** Opens a namespace of the sample with a ticket, bounded by {@link HANG_BOUND}. */
export function connectTo(url: string, namespace: string, uuid: string): Promise<ConnectOutcome> {
  return connect(`${url}${namespace}`, { auth: { uuid }, timeout: HANG_BOUND });
}

/** Fetches a fresh ticket and opens the namespace, failing unless the sample accepts. */
export async function openAs(url: string, namespace: string, token: string): Promise<Socket> {
  const outcome = await connectTo(url, namespace, await sampleTicket(url, token));
  if (!outcome.ok) throw new Error(`connection refused: ${outcome.code ?? outcome.message}`);
  return outcome.socket;
}

/** How the server ended a socket: the events in arrival order, the `unauthorized` code, the reason. */
export interface Closure {
  events: string[];
  code?: string;
  reason?: string;
}

/** Resolves once the socket is disconnected, with what preceded it. */
export function closure(socket: Socket): Promise<Closure> {
  return new Promise((resolve) => {
    const events: string[] = [];
    let code: string | undefined;
    socket.once('unauthorized', (payload: { code?: string }) => {
      events.push('unauthorized');
      code = payload?.code;
    });
    socket.once('disconnect', (reason) => {
      events.push('disconnect');
      resolve({ events, code, reason });
    });
  });
}

/**
 * Sends one `/chat` message from `from` and reports whether `to` received it within `wait` ms. A
 * probe for polling (after an outage), not a measurement.
 */
export function messageCrosses(from: Socket, to: Socket, wait = 500): Promise<boolean> {
  const text = `probe ${randomUUID()}`;
  return new Promise((resolve) => {
    const onMessage = (message: { text?: string }) => {
      if (message?.text !== text) return;
      clearTimeout(timer);
      to.off('message', onMessage);
      resolve(true);
    };
    const timer = setTimeout(() => {
      to.off('message', onMessage);
      resolve(false);
    }, wait);
    to.on('message', onMessage);
    from.emit('message', { text });
  });
}
