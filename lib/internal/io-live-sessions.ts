import { WS_TICKET_JOIN_EVENT, WS_TICKET_LEAVE_EVENT } from '../rooms/room-events.js';
import { RefreshGate } from '../session/refresh-gate.js';
import { attemptRefresh } from '../session/refresh-request.js';
import type { RefusalLog } from '../session/refusal-log.js';
import { SessionClock } from '../session/session-clock.js';
import type { WsTicketSession } from '../session/ws-ticket-session.types.js';
import { WsTicketErrorCode } from '../ws-ticket.errors.js';
import type { WsTicketService } from '../ws-ticket.service.js';
import type { WsTicketIoSocket } from '../ws-ticket-io.adapter.js';
import {
  WS_TICKET_EVENT_PREFIX,
  WS_TICKET_EXPIRING_EVENT,
  WS_TICKET_REFRESH_EVENT,
  type WsTicketRefreshAck,
  type WsTicketSocketData,
} from '../ws-ticket-session.js';
import type { IoRooms } from './io-rooms.js';
import { closeCodeOf, expel, placeOf } from './socket-io.js';

type Socket = WsTicketIoSocket;
type Connection = Socket['conn'];

/** A connected socket's session and its timeline. */
interface LiveSocket {
  session: WsTicketSession;
  clock: SessionClock | undefined;
}

/** What a physical connection shares among its namespace sockets: refreshes cover them all. */
interface LiveConnection {
  sockets: Set<Socket>;
  /** Made on the first refresh. */
  gate: RefreshGate | undefined;
}

const REFUSED = 'WebSocket session refresh refused';

/**
 * The life of authenticated Socket.IO sockets after `connection`: `ws-ticket:expiring` before the
 * session ends, the close at its end, `ws-ticket:refresh`, which extends every socket of the
 * same user multiplexed on the connection, and the room requests (`ws-ticket:join`/`leave`). The module's events (`ws-ticket:*`) are taken out of
 * the socket's packet stream before any gateway handler or `socket.on()` listener sees them (an
 * `onAny()` listener still does: Socket.IO calls it before any middleware).
 */
export class IoLiveSessions {
  private readonly sockets = new WeakMap<Socket, LiveSocket>();
  private readonly connections = new WeakMap<Connection, LiveConnection>();

  constructor(
    private readonly service: () => WsTicketService,
    private readonly failures: RefusalLog,
    /** The adapter's `authorizeRefresh()`. */
    private readonly authorize: (
      socket: Socket,
      next: WsTicketSession,
      previous: WsTicketSession,
    ) => Promise<void>,
    /** Room requests, and the re-check of rooms after a refresh. */
    private readonly rooms: IoRooms,
  ) {}

  /** Starts a socket's session, at its `connection` event, before the gateway's handler. */
  start(socket: Socket, session: WsTicketSession): void {
    const service = this.service();
    const clock = service.closeOnSessionEnd
      ? new SessionClock(service.refreshWindow * 1000, {
          expiring: (expiresAt) => socket.emit(WS_TICKET_EXPIRING_EVENT, { expiresAt }),
          end: () => expel(socket, WsTicketErrorCode.SESSION_EXPIRED),
        })
      : undefined;
    this.sockets.set(socket, { session, clock });
    let connection = this.connections.get(socket.conn);
    if (!connection) {
      connection = { sockets: new Set(), gate: undefined };
      this.connections.set(socket.conn, connection);
    }
    const own = connection;
    own.sockets.add(socket);
    // First of the socket's middlewares (the app's come in its handleConnection, later).
    socket.use((event, next) => {
      const name = event[0];
      if (typeof name !== 'string' || !name.startsWith(WS_TICKET_EVENT_PREFIX)) {
        next();
        return;
      }
      if (name === WS_TICKET_REFRESH_EVENT) this.refresh(socket, own, event);
      else if (name === WS_TICKET_JOIN_EVENT || name === WS_TICKET_LEAVE_EVENT) {
        this.rooms.request(socket, event);
      }
      // Any other ws-ticket:* event is dropped: the names are the module's.
    });
    const connectedAt = performance.now();
    socket.once('disconnect', () => {
      clock?.stop();
      own.sockets.delete(socket);
      const ended = this.sockets.get(socket)?.session ?? session;
      this.sockets.delete(socket);
      service.telemetry.ended(ended.userId, placeOf(socket), closeCodeOf(socket), connectedAt);
    });
    clock?.set(session.sessionExpiresAt);
  }

  private refresh(socket: Socket, connection: LiveConnection, event: unknown[]): void {
    const last = event[event.length - 1];
    const ack = event.length > 1 && typeof last === 'function' ? last : undefined;
    const payload = ack && event.length === 2 ? undefined : event[1];
    const service = this.service();
    /** The sockets of the connection the refresh extends: the same user's, still connected. */
    const extended = (userId: string) =>
      [...connection.sockets].filter(
        (other) => other.connected && this.sockets.get(other)?.session.userId === userId,
      );
    connection.gate ??= new RefreshGate();
    connection.gate.submit(
      async () => {
        const live = this.sockets.get(socket);
        if (!live) return undefined;
        return attemptRefresh({
          service,
          failures: this.failures,
          kind: 'Socket.IO session refresh failed',
          place: placeOf(socket),
          current: live.session,
          payload,
          handshake: socket.handshake,
          isOpen: () => socket.connected,
          authorize: async (next) => {
            await Promise.all(
              extended(next.userId).map((other) =>
                this.authorize(other, next, this.sockets.get(other)?.session ?? live.session),
              ),
            );
          },
          apply: (next) => {
            for (const other of extended(next.userId)) {
              const otherLive = this.sockets.get(other);
              if (otherLive) this.apply(other, otherLive, next);
            }
          },
        });
      },
      (reply: WsTicketRefreshAck) => {
        ack?.(reply);
        // Another user's ticket on this connection: the whole connection goes.
        if (!reply.ok && reply.code === WsTicketErrorCode.USER_MISMATCH) {
          expel([...connection.sockets], reply.code);
          socket.conn.close();
        }
      },
      () => service.logRefusal(WsTicketErrorCode.RATE_LIMITED, REFUSED),
    );
  }

  private apply(socket: Socket, live: LiveSocket, next: WsTicketSession): void {
    live.session = next;
    const data = socket.data as Partial<WsTicketSocketData>;
    data.user = next.user;
    data.sessionExpiresAt = next.sessionExpiresAt;
    live.clock?.set(next.sessionExpiresAt);
    // The user was resolved again: the rooms it joined on request are asked about again.
    void this.rooms.recheck(socket, 'refresh');
  }
}
