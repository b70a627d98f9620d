import { UserConnections } from '../session/user-connections.js';
import type { WsTicketErrorCode } from '../ws-ticket.errors.js';
import type { WsTicketService } from '../ws-ticket.service.js';
import type { WsTicketConnectionRegistry } from '../ws-ticket.types.js';
import type { WsTicketIoServer, WsTicketIoSocket } from '../ws-ticket-io.adapter.js';
import { WS_TICKET_UNAUTHORIZED_EVENT, wsTicketUserRoom } from '../ws-ticket-session.js';
import { expel, spansInstances, tell } from './socket-io.js';

type Server = WsTicketIoServer;
type Socket = WsTicketIoSocket;
/** The physical connection under a Socket.IO socket (shared by multiplexed namespaces). */
type Connection = Socket['conn'];

/** Server-side event (through `serverSideEmit`) that carries a revocation to the other instances. */
const REVOKE_EVENT = 'ws-ticket:revoke';
/** Server-side event that carries `close-oldest` evictions to the instances holding them. */
const EVICT_EVENT = 'ws-ticket:evict';

/**
 * What closes authenticated Socket.IO sockets from the server's side, for `WsTicketIoAdapter`:
 * `disconnectUser` (on this instance, and on the others through the Socket.IO adapter's
 * `serverSideEmit`), and the eviction of a connection whose slot `close-oldest` gave to a newer one.
 */
export class IoUserSockets {
  /** Authenticated connections by user, for those that left every namespace but stay open. */
  private readonly connections = new UserConnections<Connection>();

  constructor(private readonly service: () => WsTicketService) {}

  /** Remembers an authenticated connection of the user until it closes. */
  add(userId: string, connection: Connection): void {
    this.connections.add(userId, connection);
  }

  /**
   * Listens to the other instances' revocations and evictions on `server`, and returns what
   * `WsTicketService.registerConnections()` takes for it.
   */
  listen(server: Server): WsTicketConnectionRegistry {
    const events = server.sockets as unknown as NodeJS.EventEmitter;
    // Other instances' revocations, when the Socket.IO adapter spans instances.
    events.on(REVOKE_EVENT, (userId: unknown, code: unknown) => {
      if (typeof userId === 'string' && typeof code === 'string') {
        // Sockets still in an app middleware behind ours are caught when they connect.
        this.service().recordRevocation(userId);
        this.disconnectLocal(server, userId, code as WsTicketErrorCode);
      }
    });
    // Connections of this instance that another one's handshake evicted (`close-oldest`).
    events.on(EVICT_EVENT, (userId: unknown, ids: unknown) => {
      if (typeof userId === 'string' && Array.isArray(ids)) {
        this.service().evictConnections(
          userId,
          ids.filter((id): id is string => typeof id === 'string'),
        );
      }
    });
    return {
      disconnectUser: (userId, code) => this.disconnectUser(server, userId, code),
      announceEvictions: (userId, ids) => this.announceEvictions(server, userId, ids),
      // Socket.IO reaches other instances through its own adapter (or not at all: then neither do
      // its broadcasts); the module's channel leaves its sockets alone.
      spansInstances: true,
    };
  }

  /**
   * Closes a connection whose slot another connection of its user took (`close-oldest`): every
   * namespace socket of the user on it is told why first. A connection that also carries another
   * user's namespaces (a client that multiplexes two accounts) stays open for them: only the
   * evicted user's sockets leave it.
   */
  evict(server: Server, connection: Connection, userId: string, code: WsTicketErrorCode): void {
    const room = wsTicketUserRoom(userId);
    const sockets: Socket[] = [];
    for (const namespace of server._nsps.values()) {
      for (const id of namespace.adapter.rooms.get(room) ?? []) {
        const socket = namespace.sockets.get(id);
        if (socket?.conn === connection) sockets.push(socket);
      }
    }
    this.expel(sockets, code);
    if (this.connections.usersOn(connection) <= 1) connection.close();
  }

  /** Tells the other instances which of their connections a handshake here evicted. */
  private announceEvictions(server: Server, userId: string, ids: readonly string[]): void {
    if (!spansInstances(server)) return;
    try {
      server.serverSideEmit(EVICT_EVENT, userId, ids);
    } catch (error) {
      // They learn it at their next lease renewal.
      this.service().logFailure('Eviction not sent to the other instances', error);
    }
  }

  /** Returns how many of the user's connections this instance closed. */
  private disconnectUser(server: Server, userId: string, code: WsTicketErrorCode): number {
    // This instance's sockets at once, even while a cross-instance adapter's Redis is down.
    const closed = this.disconnectLocal(server, userId, code);
    if (spansInstances(server)) {
      // Every other instance sweeps its own: namespaces it alone has, connections in no room.
      try {
        server.serverSideEmit(REVOKE_EVENT, userId, code);
      } catch (error) {
        this.service().logFailure('Revocation not sent to the other instances', error);
      }
      return closed;
    }
    // An adapter without serverSideEmit: reach what its rooms reach, every socket told first.
    const room = wsTicketUserRoom(userId);
    const namespaces = [...server._nsps.values()];
    for (const namespace of namespaces) {
      namespace.in(room).emit(WS_TICKET_UNAUTHORIZED_EVENT, { code });
    }
    for (const namespace of namespaces) namespace.in(room).disconnectSockets(true);
    return closed;
  }

  /**
   * Closes the user's sockets of this instance, in every namespace, and their idle connections.
   * Returns how many connections that touched (multiplexed namespaces count once).
   */
  private disconnectLocal(server: Server, userId: string, code: WsTicketErrorCode): number {
    const room = wsTicketUserRoom(userId);
    const sockets: Socket[] = [];
    for (const namespace of server._nsps.values()) {
      // The adapter's room index is this instance's, whatever adapter spans the others.
      for (const id of namespace.adapter.rooms.get(room) ?? []) {
        const socket = namespace.sockets.get(id);
        if (socket) sockets.push(socket);
      }
    }
    this.expel(sockets, code);
    const touched = new Set<Connection>(sockets.map((socket) => socket.conn));
    // Connections of the user alone that left every namespace (in no room) but could come back;
    // one shared with another user's namespaces stays theirs (its re-entry is refused anyway).
    for (const connection of this.connections.soleOf(userId)) {
      touched.add(connection);
      connection.close();
    }
    return touched.size;
  }

  /**
   * Tells the user's sockets why, then disconnects them: with their connection, unless it also
   * carries another user's namespaces (a client multiplexing two accounts), which stay.
   */
  private expel(sockets: readonly Socket[], code: WsTicketErrorCode): void {
    const shared = sockets.filter((socket) => this.connections.usersOn(socket.conn) > 1);
    expel(
      sockets.filter((socket) => !shared.includes(socket)),
      code,
    );
    for (const socket of shared) tell(socket, code);
    for (const socket of shared) socket.disconnect();
  }
}
