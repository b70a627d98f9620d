import type { IncomingMessage } from 'node:http';
import type { VerifyClientCallbackAsync } from 'ws';
import { admitConnection } from '../session/admission.js';
import type { RefusalLog } from '../session/refusal-log.js';
import type { WsTicketSession } from '../session/ws-ticket-session.types.js';
import type { WsTicketSocketPlace } from '../telemetry/ws-ticket-telemetry.js';
import { WsTicketErrorCode } from '../ws-ticket.errors.js';
import type { WsTicketService } from '../ws-ticket.service.js';
import { JSON_REFUSAL_HEADERS, runOwnVerifyClient, type VerifyClient } from './ws-upgrade.js';

type VerifyCallback = Parameters<VerifyClientCallbackAsync>[1];
type VerifyInfo = Parameters<VerifyClientCallbackAsync>[0];

/** What the adapter lends {@link WsUpgrades}. */
export interface WsUpgradeHooks {
  service(): WsTicketService;
  failures: RefusalLog;
  /** The adapter's `authenticate()` (overridable). */
  authenticate(request: IncomingMessage): Promise<WsTicketSession>;
  /** The adapter's `statusFor()` (overridable). */
  statusFor(code: string): number;
  /** Closes what the TCP connection carries, whose slot was taken away (`close-oldest`). */
  lost(connection: IncomingMessage['socket'], code: WsTicketErrorCode): void;
}

/**
 * The authentication of raw WebSocket upgrades, inside `ws`'s `verifyClient` (before the 101 is
 * written): the gateway's own `verifyClient` first, then the ticket, the last revocation check and
 * the connection cap; a refusal is answered with its HTTP status and a JSON `{ code }` body.
 * Accepted upgrades are handed to the `connection` handler with their session.
 */
export class WsUpgrades {
  /** Sessions of upgrades that passed, until their `connection` event. */
  private readonly accepted = new WeakMap<IncomingMessage, WsTicketSession>();
  /** When each upgrade's authentication began (`performance.now()`), for the module's events. */
  private readonly started = new WeakMap<IncomingMessage, number>();

  constructor(private readonly hooks: WsUpgradeHooks) {}

  /** The session of an upgrade that passed, taken (once), and when it began. */
  take(request: IncomingMessage): { session: WsTicketSession; startedAt: number } | undefined {
    const session = this.accepted.get(request);
    if (!session) return undefined;
    this.accepted.delete(request);
    return { session, startedAt: this.started.get(request) ?? performance.now() };
  }

  /** `verifyClient` of a gateway server at `place`, after the gateway's own (`own`). */
  verify(
    info: VerifyInfo,
    callback: VerifyCallback,
    place: WsTicketSocketPlace,
    own?: VerifyClient,
  ): void {
    // The gateway's own verifyClient (if any) runs first: a request it refuses spends no ticket.
    runOwnVerifyClient(own, info, (verified, code, message, headers) => {
      if (!verified) {
        callback(false, code, message, headers);
        return;
      }
      const startedAt = performance.now();
      this.started.set(info.req, startedAt);
      this.admit(info.req).then(
        (session) => {
          this.accepted.set(info.req, session);
          let code: WsTicketErrorCode = WsTicketErrorCode.TICKET_INVALID;
          try {
            // ws completes the upgrade inside: the app's handleProtocols runs here.
            callback(true);
          } catch (error) {
            code = this.hooks.failures.coded('WebSocket upgrade failed', error).code;
            info.req.socket.destroy();
          }
          // ws emits `connection` inside callback(true), or drops a client that half-closed meanwhile.
          if (this.accepted.delete(info.req)) {
            this.hooks.service().telemetry.refused('handshake', code, place, startedAt);
          }
        },
        (error: unknown) => this.refuse(error, callback, place, startedAt),
      );
    });
  }

  /**
   * Authenticates an upgrade, then makes the last revocation check (another instance may have
   * revoked the user while `resolveUser` ran); this process's revocations are checked again when
   * the socket is attached.
   */
  private async admit(request: IncomingMessage): Promise<WsTicketSession> {
    const session = await this.hooks.authenticate(request);
    // The revocation check and the connection cap; the slot goes with the TCP connection.
    const connection = request.socket;
    await admitConnection(
      this.hooks.service(),
      session,
      connection,
      () => !connection.destroyed,
      (code) => this.hooks.lost(connection, code),
    );
    return session;
  }

  private refuse(
    error: unknown,
    callback: VerifyCallback,
    place: WsTicketSocketPlace,
    startedAt: number,
  ): void {
    // Only a code reaches the client: an override's own error may quote hosts or queries.
    const { code } = this.hooks.failures.coded('WebSocket upgrade authentication failed', error);
    this.hooks.service().telemetry.refused('handshake', code, place, startedAt);
    callback(false, this.hooks.statusFor(code), JSON.stringify({ code }), JSON_REFUSAL_HEADERS);
  }
}
