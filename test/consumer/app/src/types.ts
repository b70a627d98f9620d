// Compiles only: consumer code the declarations must accept (never run).
import type { Request } from 'express';
import {
  type WsTicketHandshake,
  WsTicketIoAdapter,
  type WsTicketIoServer,
  type WsTicketIoServerOptions,
  type WsTicketRequest,
} from 'nestjs-ws-ticket';
import type { WsTicketUpgradeHandshake } from 'nestjs-ws-ticket/ws';

export const fromExpress = (request: Request): WsTicketRequest => request;
export const asHandshake = (handshake: WsTicketUpgradeHandshake): WsTicketHandshake => handshake;

export class TunedIoAdapter extends WsTicketIoAdapter {
  override createIOServer(port: number, options?: WsTicketIoServerOptions): WsTicketIoServer {
    return super.createIOServer(port, options && { ...options, pingInterval: 10_000 });
  }
}
