import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import { withDeadline } from './stop-child.js';

export type ConnectOutcome =
  | { ok: true; socket: Socket }
  | { ok: false; code: string | undefined; message: string };

/**
 * Opens a Socket.IO connection (WebSocket transport, no reconnection) and resolves once the server
 * accepted or refused the namespace handshake.
 */
export function connect(
  url: string,
  options: Partial<ManagerOptions & SocketOptions> = {},
): Promise<ConnectOutcome> {
  const socket = io(url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    ...options,
  });
  return outcome(socket);
}

/**
 * How long a helper waits for something the server must send before failing the test by name: a
 * bound far above what any answer takes here, so a lost answer is a failure, not a hung file.
 */
export const ANSWER_WAIT_MS = 15_000;

/** Waits for a socket's first connect or connect_error. */
export function outcome(socket: Socket): Promise<ConnectOutcome> {
  const answer = new Promise<ConnectOutcome>((resolve) => {
    socket.once('connect', () => resolve({ ok: true, socket }));
    socket.once('connect_error', (error: Error & { data?: { code?: string } }) => {
      socket.close();
      resolve({ ok: false, code: error.data?.code, message: error.message });
    });
  });
  return withDeadline(answer, ANSWER_WAIT_MS, 'connect or connect_error').catch((error) => {
    socket.close();
    throw error;
  });
}

/** Connects and fails the test unless the server accepted. */
export async function connected(
  url: string,
  options?: Parameters<typeof connect>[1],
): Promise<Socket> {
  const result = await connect(url, options);
  if (!result.ok) throw new Error(`connection refused: ${result.code ?? result.message}`);
  return result.socket;
}

/** Emits with an ack and resolves the ack's payload. */
export function ask<T = unknown>(socket: Socket, event: string, payload?: unknown): Promise<T> {
  return socket.timeout(5000).emitWithAck(event, payload) as Promise<T>;
}

/** Resolves the next `event` the socket receives; rejects after {@link ANSWER_WAIT_MS}. */
export function next<T = unknown>(socket: Socket, event: string): Promise<T> {
  const received = new Promise<T>((resolve) => socket.once(event, resolve));
  return withDeadline(received, ANSWER_WAIT_MS, `waiting for "${event}"`);
}
