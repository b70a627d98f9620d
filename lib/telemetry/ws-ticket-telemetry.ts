import { type Channel, channel } from 'node:diagnostics_channel';
import { Logger } from '@nestjs/common';
import { WS_TICKET_LOGGER_CONTEXT } from '../ws-ticket.constants.js';
import type { WsTicketErrorCode } from '../ws-ticket.errors.js';
import {
  WS_TICKET_CHANNELS,
  type WsTicketAcceptEvent,
  type WsTicketIssueEvent,
  type WsTicketRefreshEvent,
  type WsTicketRefusalCode,
  type WsTicketRefuseEvent,
  type WsTicketRevokeEvent,
  type WsTicketSessionEndEvent,
  type WsTicketTransport,
} from './ws-ticket-events.js';

/**
 * What records the module's events besides the diagnostics channels (the OpenTelemetry
 * recorder). `startedAt` is the operation's start, a `performance.now()` value.
 */
export interface WsTicketTelemetryRecorder {
  issue(event: WsTicketIssueEvent, startedAt: number): void;
  refuse(event: WsTicketRefuseEvent, startedAt: number): void;
  accept(event: WsTicketAcceptEvent, startedAt: number): void;
  sessionEnd(event: WsTicketSessionEndEvent): void;
  revoke(event: WsTicketRevokeEvent): void;
  refresh(event: WsTicketRefreshEvent, startedAt: number): void;
}

const channels = {
  issue: channel(WS_TICKET_CHANNELS.issue),
  refuse: channel(WS_TICKET_CHANNELS.refuse),
  accept: channel(WS_TICKET_CHANNELS.accept),
  sessionEnd: channel(WS_TICKET_CHANNELS.sessionEnd),
  revoke: channel(WS_TICKET_CHANNELS.revoke),
  refresh: channel(WS_TICKET_CHANNELS.refresh),
} satisfies Record<keyof typeof WS_TICKET_CHANNELS, Channel>;

/** Where a socket is: its transport and namespace (or raw WebSocket path), for the events. */
export interface WsTicketSocketPlace {
  transport: WsTicketTransport;
  namespace: string;
}

/**
 * Publishes the module's events ({@link WS_TICKET_CHANNELS}) and hands them to the OpenTelemetry
 * recorder when there is one. The module's adapters and `WsTicketService` publish through
 * `WsTicketService.telemetry`; a custom transport may too. An event nobody listens to is never built. A recorder that throws
 * is logged once and never fails the operation it records.
 */
export class WsTicketTelemetry {
  private readonly logger = new Logger(WS_TICKET_LOGGER_CONTEXT);
  private recorderFailed = false;

  constructor(private readonly recorder?: WsTicketTelemetryRecorder) {}

  /** Whether an OpenTelemetry recorder takes the events. */
  get recording(): boolean {
    return this.recorder !== undefined;
  }

  issued(userId: string, startedAt: number): void {
    if (!this.wanted(channels.issue)) return;
    const event: WsTicketIssueEvent = { userId, durationMs: since(startedAt) };
    this.record(() => this.recorder?.issue(event, startedAt));
    channels.issue.publish(event);
  }

  refused(
    stage: WsTicketRefuseEvent['stage'],
    code: WsTicketRefusalCode,
    place: WsTicketSocketPlace | undefined,
    startedAt: number,
  ): void {
    if (!this.wanted(channels.refuse)) return;
    const event: WsTicketRefuseEvent = {
      stage,
      code,
      transport: place?.transport ?? 'http',
      namespace: place?.namespace ?? null,
      durationMs: since(startedAt),
    };
    this.record(() => this.recorder?.refuse(event, startedAt));
    channels.refuse.publish(event);
  }

  accepted(userId: string, place: WsTicketSocketPlace, startedAt: number): void {
    if (!this.wanted(channels.accept)) return;
    const event: WsTicketAcceptEvent = { userId, ...place, durationMs: since(startedAt) };
    this.record(() => this.recorder?.accept(event, startedAt));
    channels.accept.publish(event);
  }

  ended(
    userId: string,
    place: WsTicketSocketPlace,
    code: WsTicketErrorCode | null,
    connectedAt: number,
  ): void {
    if (!this.wanted(channels.sessionEnd)) return;
    const event: WsTicketSessionEndEvent = {
      userId,
      ...place,
      code,
      durationMs: since(connectedAt),
    };
    this.record(() => this.recorder?.sessionEnd(event));
    channels.sessionEnd.publish(event);
  }

  revoked(userId: string, action: WsTicketRevokeEvent['action'], code: WsTicketErrorCode | null) {
    if (!this.wanted(channels.revoke)) return;
    const event: WsTicketRevokeEvent = { userId, action, code };
    this.record(() => this.recorder?.revoke(event));
    channels.revoke.publish(event);
  }

  refreshed(
    userId: string,
    place: WsTicketSocketPlace,
    code: WsTicketErrorCode | null,
    startedAt: number,
  ): void {
    if (!this.wanted(channels.refresh)) return;
    const event: WsTicketRefreshEvent = {
      userId,
      ...place,
      result: code === null ? 'refreshed' : 'refused',
      code,
      durationMs: since(startedAt),
    };
    this.record(() => this.recorder?.refresh(event, startedAt));
    channels.refresh.publish(event);
  }

  private wanted(target: Channel): boolean {
    return this.recorder !== undefined || target.hasSubscribers;
  }

  private record(write: () => void): void {
    if (!this.recorder) return;
    try {
      write();
    } catch (error) {
      if (this.recorderFailed) return;
      this.recorderFailed = true;
      this.logger.error(
        `OpenTelemetry recording failed (logged once): ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
}

/** Milliseconds since a `performance.now()` value. */
function since(startedAt: number): number {
  return performance.now() - startedAt;
}
