import type { IncomingHttpHeaders } from 'node:http';
import type { WsAdapter } from '@nestjs/platform-ws';
import type {
  ServerOptions,
  VerifyClientCallbackAsync,
  VerifyClientCallbackSync,
  WebSocket,
} from 'ws';
import type { WsTicketHandshake } from '../ws-ticket.types.js';
import type { WsTicketSocketData } from '../ws-ticket-session.js';

/* The public types of `WsTicketWsAdapter` (`nestjs-ws-ticket/ws`). */

/**
 * A `ws` socket accepted by {@link WsTicketWsAdapter}. Type a gateway's `@ConnectedSocket()` with it;
 * `@WsUser()` and `WsTicketGuard` read the same `data.user`.
 */
export type WsTicketWebSocket<TUser = unknown> = WebSocket & { data: WsTicketSocketData<TUser> };

/**
 * What {@link WsTicketWsAdapter} hands to `WsTicketService.consume()` for one upgrade: the ticket
 * sources in Socket.IO's shape (the `Sec-WebSocket-Protocol` ticket as `auth[param]`, the URL query
 * as `query`) plus the request facts a binding check may need.
 */
export interface WsTicketUpgradeHandshake extends WsTicketHandshake {
  /** Request headers of the upgrade. */
  headers: IncomingHttpHeaders;
  /** Remote address of the TCP connection. */
  address: string | undefined;
  /** Whether the upgrade arrived over TLS. */
  secure: boolean;
}

/** The options of Nest's `WsAdapter` (such as `messageParser`), which it does not export by name. */
export type WsTicketWsBaseOptions = NonNullable<ConstructorParameters<typeof WsAdapter>[1]>;

/** Options of {@link WsTicketWsAdapter}: Nest's `WsAdapter` options (passed through), plus its own. */
export interface WsTicketWsAdapterOptions extends WsTicketWsBaseOptions {
  /**
   * Largest message a client may send, in bytes, on every gateway server of this adapter (the `ws`
   * option of that name, whose own default is 100 MiB). A longer message closes its socket with 1009
   * ("message too big") and never reaches a handler; a single frame is refused from its header,
   * before its payload is read. A gateway's own `@WebSocketGateway({ maxPayload })` wins over this.
   * A whole number from 1 to 2^31 − 1; anything else throws here.
   * @default 1_048_576 (1 MiB, as Socket.IO's `maxHttpBufferSize`)
   */
  maxPayload?: number | undefined;
}

/** What Nest passes to `create()` for a gateway: its `@WebSocketGateway()` options. */
export type WsTicketWsGatewayOptions = Record<string, unknown> & {
  namespace?: string;
  server?: unknown;
  path?: string;
  maxPayload?: number;
  verifyClient?: VerifyClientCallbackAsync | VerifyClientCallbackSync;
  handleProtocols?: ServerOptions['handleProtocols'];
};
