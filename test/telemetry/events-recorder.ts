import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { WS_TICKET_CHANNELS } from '../../lib/index.js';

type ChannelKey = keyof typeof WS_TICKET_CHANNELS;

/** One event as a test compares it: its channel and payload, `durationMs` checked and dropped. */
export type RecordedEvent = [ChannelKey, Record<string, unknown>];

/**
 * Records every event the module publishes on its diagnostics channels, in order, until
 * `stop()`. `durationMs` must be a finite number ≥ 0; it is left out of {@link events} so that
 * sequences compare exactly.
 */
export class EventsRecorder {
  /** Every payload as published, durations included. */
  readonly raw: [ChannelKey, unknown][] = [];
  private readonly listeners = new Map<ChannelKey, (message: unknown) => void>();

  constructor() {
    for (const key of Object.keys(WS_TICKET_CHANNELS) as ChannelKey[]) {
      const listener = (message: unknown) => this.raw.push([key, message]);
      this.listeners.set(key, listener);
      subscribe(WS_TICKET_CHANNELS[key], listener);
    }
  }

  /** The events so far without `durationMs`; throws on a duration that is no finite number ≥ 0. */
  events(): RecordedEvent[] {
    return this.raw.map(([key, message]) => {
      const { durationMs, ...rest } = message as { durationMs?: unknown };
      if (key !== 'revoke' && !(typeof durationMs === 'number' && durationMs >= 0)) {
        throw new Error(`${key} event without a valid durationMs: ${String(durationMs)}`);
      }
      return [key, rest];
    });
  }

  /** Forgets what was recorded. */
  clear(): void {
    this.raw.length = 0;
  }

  /** Resolves once `count` events were recorded (or rejects after `ms`). */
  async waitFor(count: number, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.raw.length < count) {
      if (Date.now() > deadline) {
        throw new Error(`waited for ${count} events, got ${JSON.stringify(this.raw)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  stop(): void {
    for (const [key, listener] of this.listeners) unsubscribe(WS_TICKET_CHANNELS[key], listener);
  }
}
