import type { WebSocket } from 'ws';
import { RefreshGate } from '../session/refresh-gate.js';
import { refreshedAnswer, refreshTicketOf } from '../session/refresh-request.js';
import type { RefusalLog } from '../session/refusal-log.js';
import { SessionClock } from '../session/session-clock.js';
import type { WsTicketSession } from '../session/ws-ticket-session.types.js';
import { WsTicketErrorCode } from '../ws-ticket.errors.js';
import type { WsTicketService } from '../ws-ticket.service.js';
import type { WsTicketHandshake } from '../ws-ticket.types.js';
import {
  WS_TICKET_EXPIRING_EVENT,
  WS_TICKET_REFRESH_EVENT,
  type WsTicketRefreshAck,
  type WsTicketSocketData,
} from '../ws-ticket-session.js';

/** A raw socket's session, its timeline, its refresh limit and the upgrade facts checks read. */
interface LiveSocket {
  session: WsTicketSession;
  clock: SessionClock | undefined;
  /** Made on the first refresh. */
  gate: RefreshGate | undefined;
  /** The upgrade's headers and peer address: a refresh is checked (origin, binding) against them. */
  handshake: WsTicketHandshake;
}

const REFUSED = 'WebSocket session refresh refused';

/**
 * The life of authenticated raw WebSockets after the upgrade: the frame
 * `{"event":"ws-ticket:expiring","data":{"expiresAt":…}}` before the session ends, the close at its
 * end, and `ws-ticket:refresh` frames, answered with a frame of the same event.
 */
export class WsLiveSessions {
  private readonly sockets = new WeakMap<WebSocket, LiveSocket>();

  constructor(
    private readonly service: () => WsTicketService,
    private readonly failures: RefusalLog,
    /** Closes a socket with the close code of `code`. */
    private readonly close: (client: WebSocket, code: WsTicketErrorCode) => void,
  ) {}

  /** Starts an accepted socket's session. */
  start(client: WebSocket, session: WsTicketSession, handshake: WsTicketHandshake): void {
    const service = this.service();
    const clock = service.closeOnSessionEnd
      ? new SessionClock(service.refreshWindow * 1000, {
          expiring: (expiresAt) => send(client, WS_TICKET_EXPIRING_EVENT, { expiresAt }),
          end: () => this.close(client, WsTicketErrorCode.SESSION_EXPIRED),
        })
      : undefined;
    this.sockets.set(client, { session, clock, gate: undefined, handshake });
    client.once('close', () => {
      clock?.stop();
      this.sockets.delete(client);
    });
    clock?.set(session.sessionExpiresAt);
  }

  /** Handles a `ws-ticket:refresh` frame's data; the answer goes out as a frame. */
  refresh(client: WebSocket, payload: unknown): void {
    const live = this.sockets.get(client);
    if (!live || client.readyState !== client.OPEN) return;
    const service = this.service();
    live.gate ??= new RefreshGate();
    if (!live.gate.allow()) {
      service.logRefusal(WsTicketErrorCode.RATE_LIMITED, REFUSED);
      live.gate.answer(() => answer(client, { ok: false, code: WsTicketErrorCode.RATE_LIMITED }));
      return;
    }
    live.gate.run(async () => {
      if (client.readyState !== client.OPEN) return;
      try {
        const next = await service.refreshSession(
          live.session,
          refreshTicketOf(payload, service.param),
          live.handshake,
        );
        // Closed meanwhile (revoked, expired, gone): nothing left to extend.
        if (client.readyState !== client.OPEN) return;
        live.session = next;
        const data = (client as WebSocket & { data: WsTicketSocketData }).data;
        data.user = next.user;
        data.sessionExpiresAt = next.sessionExpiresAt;
        live.clock?.set(next.sessionExpiresAt);
        answer(client, refreshedAnswer(next));
      } catch (error) {
        const { code } = this.failures.coded('WebSocket session refresh failed', error);
        answer(client, { ok: false, code });
        if (code === WsTicketErrorCode.USER_MISMATCH) this.close(client, code);
      }
    });
  }
}

function answer(client: WebSocket, reply: WsTicketRefreshAck): void {
  send(client, WS_TICKET_REFRESH_EVENT, reply);
}

function send(client: WebSocket, event: string, data: unknown): void {
  if (client.readyState === client.OPEN) client.send(JSON.stringify({ event, data }));
}
