import type { WebSocket } from 'ws';
import { WS_TICKET_JOIN_EVENT, WS_TICKET_LEAVE_EVENT } from '../rooms/room-events.js';
import { RefreshGate } from '../session/refresh-gate.js';
import { attemptRefresh } from '../session/refresh-request.js';
import type { RefusalLog } from '../session/refusal-log.js';
import { SessionClock } from '../session/session-clock.js';
import type { WsTicketSession } from '../session/ws-ticket-session.types.js';
import type { WsTicketSocketPlace } from '../telemetry/ws-ticket-telemetry.js';
import { WsTicketErrorCode } from '../ws-ticket.errors.js';
import type { WsTicketService } from '../ws-ticket.service.js';
import type { WsTicketHandshake } from '../ws-ticket.types.js';
import {
  WS_TICKET_EXPIRING_EVENT,
  WS_TICKET_REFRESH_EVENT,
  type WsTicketRefreshAck,
  type WsTicketSocketData,
} from '../ws-ticket-session.js';

/** A raw socket's session, its timeline, its refresh gate and the upgrade facts checks read. */
interface LiveSocket {
  session: WsTicketSession;
  clock: SessionClock | undefined;
  /** Made on the first refresh. */
  gate: RefreshGate | undefined;
  /** The upgrade's headers and peer address: a refresh is checked (origin, binding) against them. */
  handshake: WsTicketHandshake;
  /** The gateway it connected to, once accepted: its close is then announced. */
  place: WsTicketSocketPlace | undefined;
  /** Why the module closes it, once it does. */
  closeCode: WsTicketErrorCode | null;
}

/** What the adapter lends {@link WsLiveSessions}. */
export interface WsLiveSessionHooks {
  /** Closes a socket with the close code of `code`. */
  close(client: WebSocket, code: WsTicketErrorCode): void;
  /** The adapter's `authorizeRefresh()`. */
  authorize(client: WebSocket, next: WsTicketSession, previous: WsTicketSession): Promise<void>;
  /** A `ws-ticket:join` or `ws-ticket:leave` frame. */
  room(client: WebSocket, event: string, payload: unknown): void;
  /** The socket's session was refreshed (its user resolved again). */
  refreshed(client: WebSocket): void;
}

/**
 * What every module frame a client sends contains, as `JSON.stringify` writes it: only frames with
 * it are parsed here (the app's own frames are parsed by its `messageParser` alone). A frame is at
 * most `maxPayload` long.
 */
const MODULE_EVENT_MARK = Buffer.from('"ws-ticket:');

const REFUSED = 'WebSocket session refresh refused';

/**
 * The life of authenticated raw WebSockets after the upgrade: the frame
 * `{"event":"ws-ticket:expiring","data":{"expiresAt":…}}` before the session ends, the close at its
 * end, and `ws-ticket:refresh` frames, answered with a frame of the same event. The module's frames
 * are recognised here, before and whatever the app's `messageParser` makes of them.
 */
export class WsLiveSessions {
  private readonly sockets = new WeakMap<WebSocket, LiveSocket>();

  constructor(
    private readonly service: () => WsTicketService,
    private readonly failures: RefusalLog,
    private readonly hooks: WsLiveSessionHooks,
  ) {}

  /** Starts an accepted socket's session. */
  start(client: WebSocket, session: WsTicketSession, handshake: WsTicketHandshake): void {
    const service = this.service();
    const clock = service.closeOnSessionEnd
      ? new SessionClock(service.refreshWindow * 1000, {
          expiring: (expiresAt) => send(client, WS_TICKET_EXPIRING_EVENT, { expiresAt }),
          end: () => this.hooks.close(client, WsTicketErrorCode.SESSION_EXPIRED),
        })
      : undefined;
    const live: LiveSocket = {
      session,
      clock,
      gate: undefined,
      handshake,
      place: undefined,
      closeCode: null,
    };
    this.sockets.set(client, live);
    const connectedAt = performance.now();
    client.on('message', (data: unknown, isBinary: boolean) => {
      if (!isBinary) this.onText(client, data);
    });
    client.once('close', () => {
      clock?.stop();
      this.sockets.delete(client);
      if (live.place) {
        service.telemetry.ended(live.session.userId, live.place, live.closeCode, connectedAt);
      }
    });
    clock?.set(session.sessionExpiresAt);
  }

  /** Whether the socket's session was started (and it has not closed since). */
  has(client: WebSocket): boolean {
    return this.sockets.has(client);
  }

  /** Records that a started socket was accepted, on the gateway at `place`. */
  accepted(client: WebSocket, place: WsTicketSocketPlace): void {
    const live = this.sockets.get(client);
    if (live) live.place = place;
  }

  /** Records why the module is closing the socket (the first reason counts). */
  closing(client: WebSocket, code: WsTicketErrorCode): void {
    const live = this.sockets.get(client);
    if (live && live.closeCode === null) live.closeCode = code;
  }

  /** A text frame: the module's events are handled, every other is left to the app. */
  private onText(client: WebSocket, data: unknown): void {
    if (!Buffer.isBuffer(data) || !data.includes(MODULE_EVENT_MARK)) return;
    let frame: unknown;
    try {
      frame = JSON.parse(data.toString('utf8'));
    } catch {
      return;
    }
    if (typeof frame !== 'object' || frame === null) return;
    const { event, data: payload } = frame as { event?: unknown; data?: unknown };
    if (event === WS_TICKET_REFRESH_EVENT) this.refresh(client, payload);
    else if (event === WS_TICKET_JOIN_EVENT || event === WS_TICKET_LEAVE_EVENT) {
      this.hooks.room(client, event, payload);
    }
  }

  /** The gateway path the socket connected to (`/` until it is accepted). */
  pathOf(client: WebSocket): string {
    return this.sockets.get(client)?.place?.namespace ?? '/';
  }

  private refresh(client: WebSocket, payload: unknown): void {
    const live = this.sockets.get(client);
    if (!live) return;
    const service = this.service();
    const isOpen = () => client.readyState === client.OPEN;
    live.gate ??= new RefreshGate();
    live.gate.submit(
      () =>
        attemptRefresh({
          service,
          failures: this.failures,
          kind: 'WebSocket session refresh failed',
          place: live.place ?? { transport: 'ws', namespace: '/' },
          current: live.session,
          payload,
          handshake: live.handshake,
          isOpen,
          authorize: (next) => this.hooks.authorize(client, next, live.session),
          apply: (next) => {
            live.session = next;
            const data = (client as WebSocket & { data: WsTicketSocketData }).data;
            data.user = next.user;
            data.sessionExpiresAt = next.sessionExpiresAt;
            live.clock?.set(next.sessionExpiresAt);
            this.hooks.refreshed(client);
          },
        }),
      (ack) => {
        answer(client, ack);
        if (!ack.ok && ack.code === WsTicketErrorCode.USER_MISMATCH) {
          this.hooks.close(client, ack.code);
        }
      },
      () => service.logRefusal(WsTicketErrorCode.RATE_LIMITED, REFUSED),
    );
  }
}

function answer(client: WebSocket, reply: WsTicketRefreshAck): void {
  send(client, WS_TICKET_REFRESH_EVENT, reply);
}

function send(client: WebSocket, event: string, data: unknown): void {
  if (client.readyState === client.OPEN) client.send(JSON.stringify({ event, data }));
}
