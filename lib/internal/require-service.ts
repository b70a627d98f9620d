import type { INestApplicationContext } from '@nestjs/common';
import { ModulesContainer } from '@nestjs/core';
import { WsTicketRooms } from '../rooms/ws-ticket-rooms.js';
import { WsTicketService } from '../ws-ticket.service.js';
import { moduleProviding } from './modules.js';

/** The adapters that found their app's `WsTicketService`: the app's gateways are authenticated. */
const ticketAdapters = new WeakSet<object>();

/**
 * The `WsTicketService` a ticket adapter authenticates with, or a startup error naming the fix when
 * the app never registered `WsTicketModule.forRoot…()` (instead of Nest's "could not find").
 * Remembers the adapter, for the bootstrap check of gateways running without one.
 */
export function requireService(
  app: INestApplicationContext,
  adapter: { constructor: { name: string } },
): WsTicketService {
  // Looked up in the module graph first: `app.get()` of a missing provider throws through Nest's
  // exception zone, which logs its own "could not find" and, with the default abortOnError, exits
  // the process before this message could be thrown.
  const registered = moduleProviding(app.get(ModulesContainer), WsTicketService);
  const service = registered ? app.get(WsTicketService, { strict: false }) : undefined;
  if (!service) {
    const name = adapter.constructor.name;
    throw new Error(
      `${name}: WsTicketService not found; import WsTicketModule.forRoot({ jwt: { secret } }) or WsTicketModule.forRootAsync({ useFactory }) in the app's root module (a bare \`imports: [WsTicketModule]\` registers nothing).`,
    );
  }
  ticketAdapters.add(adapter);
  return service;
}

/** Whether an app's WebSocket adapter is a ticket adapter that found its `WsTicketService`. */
export function isTicketAdapter(adapter: unknown): boolean {
  return typeof adapter === 'object' && adapter !== null && ticketAdapters.has(adapter);
}

/** The app's `WsTicketRooms`, or `undefined` when no module provides it (a hand-made setup). */
export function findRooms(app: INestApplicationContext): WsTicketRooms | undefined {
  const registered = moduleProviding(app.get(ModulesContainer), WsTicketRooms);
  return registered ? app.get(WsTicketRooms, { strict: false }) : undefined;
}
