import { header } from '../internal/http.js';
import { received } from '../internal/options.js';
import { WsTicketError, WsTicketErrorCode } from '../ws-ticket.errors.js';
import type { WsTicketOriginCheck } from '../ws-ticket.options.js';
import type { WsTicketHandshake } from '../ws-ticket.types.js';
import type { AppCallbacks } from './app-callbacks.js';

/** `allowedOrigins`: the handshake `Origin` checks, before a ticket is read. */
export class OriginCheck {
  constructor(
    private readonly allowed: readonly string[] | WsTicketOriginCheck | undefined,
    private readonly callbacks: AppCallbacks<unknown>,
  ) {
    if (allowed !== undefined && typeof allowed !== 'function' && !Array.isArray(allowed)) {
      const hint =
        typeof allowed === 'string'
          ? ": split a comma-separated environment value with .split(',')"
          : '';
      throw new Error(
        `WsTicketModule: \`allowedOrigins\` must be a list of origins (e.g. ['https://app.example.com']) or a function; received ${received(allowed)}${hint}.`,
      );
    }
    if (Array.isArray(allowed) && allowed.some((origin) => typeof origin !== 'string')) {
      const wrong = allowed.find((origin) => typeof origin !== 'string');
      throw new Error(
        `WsTicketModule: \`allowedOrigins\` must list origins as strings ('https://app.example.com'); received an entry ${received(wrong)}.`,
      );
    }
  }

  /**
   * @throws WsTicketError `origin_forbidden`, or `store_unavailable` when the function timed out
   *   or threw
   */
  async check(handshake: WsTicketHandshake): Promise<void> {
    const allowed = this.allowed;
    if (allowed === undefined) return;
    const origin = header(handshake.headers, 'origin');
    if (typeof allowed !== 'function') {
      if (origin === undefined || allowed.includes(origin)) return;
      throw new WsTicketError(WsTicketErrorCode.ORIGIN_FORBIDDEN);
    }
    if (!(await this.callbacks.originAllowed(allowed, origin))) {
      throw new WsTicketError(WsTicketErrorCode.ORIGIN_FORBIDDEN);
    }
  }
}
