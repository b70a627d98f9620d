import type { InstanceChannel } from '../session/instance-channel.js';
import type { WsTicketService } from '../ws-ticket.service.js';

let read: ((service: WsTicketService) => InstanceChannel) | undefined;

/** Called once by `WsTicketService` (a static block): how to reach a service's channel. */
export function exposeChannel(reader: (service: WsTicketService) => InstanceChannel): void {
  read = reader;
}

/** The channel between instances of a service (internal: for the rooms). */
export function channelOf(service: WsTicketService): InstanceChannel {
  if (!read) throw new Error('WsTicketService is not loaded');
  return read(service);
}
