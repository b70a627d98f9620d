import { Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { collectWsTicketMetrics } from '../../lib/prometheus/index.js';

/**
 * The sample's own prom-client registry: the module's `ws_ticket_*` metrics and prom-client's
 * default process metrics (CPU, memory, event loop lag, read when scraped).
 */
@Injectable()
export class SampleMetrics implements OnModuleInit, OnApplicationShutdown {
  readonly registry = new Registry();
  private stop: (() => void) | undefined;

  /**
   * Runs in `app.listen()` before the server listens: the module publishes an event only while
   * someone subscribes, so `ws_ticket_open_sockets` must see every accept to match its closes.
   */
  onModuleInit(): void {
    this.stop = collectWsTicketMetrics({ registry: this.registry });
    collectDefaultMetrics({ register: this.registry });
  }

  onApplicationShutdown(): void {
    this.stop?.();
    this.stop = undefined;
  }
}
