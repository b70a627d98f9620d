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
 * Connection-state recovery for authenticated sockets. Socket.IO writes the packets a recovered
 * socket missed in its constructor, before any middleware ran, so a client whose handshake is then
 * refused (a revoked user, an expired ticket) would still have read them: they are held here
 * instead, and written when the socket connects. A recovery that lost a room on its re-check
 * becomes a fresh start (new private id: the client sees `recovered === false` and refetches),
 * since the packets of a room it may no longer read cannot be told from the others.
 *
 * Socket.IO's own session store hands the same session out as often as it is asked within its
 * window: two live sockets with one id, the first to close taking the id's rooms (its user's
 * room included) with it, and the other out of reach of `disconnectUser`. A session is restored
 * here once at a time (another attempt while its socket lives is a fresh connection), and the
 * restored socket gets its own copy of the session's `data`, so nothing it writes later reaches
 * the stored session behind Socket.IO's back.
 */
export class IoRecovery {
  /** Missed packets by the recovered socket's `data` (its own copy). */
  private readonly missed = new WeakMap<object, unknown[]>();
  /** Stored sessions (by their `data`) whose restored socket lives or is being admitted. */
  private readonly inUse = new WeakSet<object>();
  /** The stored session's `data` of each restored copy, to give it back when the socket goes. */
  private readonly origin = new WeakMap<object, object>();

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

  /** The stored session the recovered socket came from may be restored again once it is gone. */
  release(socket: Socket): void {
    const data: unknown = socket.data;
    const stored = typeof data === 'object' && data !== null ? this.origin.get(data) : undefined;
    if (stored) this.inUse.delete(stored);
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
      if (!session) return session;
      const { data } = session;
      // Sockets of the ticket adapter always carry an object: anything else starts afresh.
      if (typeof data !== 'object' || data === null || this.inUse.has(data)) return null;
      this.inUse.add(data);
      const copy = { ...(data as Record<string, unknown>) };
      const rooms = (data as { wsTicketRooms?: unknown }).wsTicketRooms;
      if (Array.isArray(rooms)) copy.wsTicketRooms = [...rooms];
      this.origin.set(copy, data);
      this.missed.set(copy, Array.isArray(session.missedPackets) ? session.missedPackets : []);
      return { ...session, data: copy, missedPackets: [] };
    };
  }
}
