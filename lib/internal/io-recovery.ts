import { randomBytes } from 'node:crypto';
import type { WsTicketIoSocket } from '../ws-ticket-io.adapter.js';

type Socket = WsTicketIoSocket;
/** What a Socket.IO adapter's `restoreSession` resolves (the fields read here). */
interface RestoredSession {
  data?: unknown;
  missedPackets?: unknown[];
}
interface RestoringAdapter {
  restoreSession?: (pid: string, offset: string) => Promise<RestoredSession | null | undefined>;
}
interface Namespace {
  adapter: unknown;
  _initAdapter?: () => void;
}

/** Socket.IO's EVENT packet type. */
const EVENT = 2;

/**
 * Connection-state recovery for authenticated sockets: Socket.IO writes the packets a recovered
 * socket missed in its constructor, before any middleware ran, so a client whose handshake is then
 * refused (a revoked user, an expired ticket) would still have read them. They are held here
 * instead, and written when the socket connects; a recovery that lost a room on its re-check
 * becomes a fresh start (new private id: the client sees `recovered === false` and refetches),
 * since the packets of a room it may no longer read cannot be told from the others.
 */
export class IoRecovery {
  /** Missed packets by the recovered session's `data` (the socket's `data` to be). */
  private readonly missed = new WeakMap<object, unknown[]>();

  /** Holds back the missed packets of every session this namespace's adapters restore. */
  watch(namespace: Namespace): void {
    this.wrap(namespace.adapter as RestoringAdapter);
    // `server.adapter(…)` (a Redis adapter set after createIOServer) builds new adapters.
    const init = namespace._initAdapter;
    if (typeof init !== 'function') return;
    namespace._initAdapter = () => {
      init.call(namespace);
      this.wrap(namespace.adapter as RestoringAdapter);
    };
  }

  /** The packets a recovered socket missed, taken (once). */
  take(socket: Socket): unknown[] | undefined {
    const data: unknown = socket.data;
    if (typeof data !== 'object' || data === null) return undefined;
    const packets = this.missed.get(data);
    this.missed.delete(data);
    return packets;
  }

  /** Writes the packets a recovered socket missed, as Socket.IO would have. */
  deliver(socket: Socket, packets: readonly unknown[]): void {
    const writer = socket as unknown as { packet(packet: { type: number; data: unknown }): void };
    for (const data of packets) writer.packet({ type: EVENT, data });
  }

  /** Turns a recovery into a fresh start: a new private id, `recovered` false on both ends. */
  restart(socket: Socket): void {
    const internal = socket as unknown as { pid?: string; recovered: boolean };
    internal.recovered = false;
    internal.pid = randomBytes(15).toString('base64url');
  }

  private wrap(adapter: RestoringAdapter | undefined): void {
    const restore = adapter?.restoreSession;
    if (!adapter || typeof restore !== 'function') return;
    adapter.restoreSession = async (pid, offset) => {
      const session = await restore.call(adapter, pid, offset);
      if (session && Array.isArray(session.missedPackets)) {
        const { data } = session;
        // Sockets of this adapter always carry an object; anything else gets nothing.
        if (typeof data === 'object' && data !== null) this.missed.set(data, session.missedPackets);
        session.missedPackets = [];
      }
      return session;
    };
  }
}
