import { OnApplicationShutdown } from '@nestjs/common';
import { TicketStore } from './ticket-store.js';

interface Entry {
  value: string;
  expiresAt: number;
}

/** Options of {@link MemoryTicketStore}. */
export interface MemoryTicketStoreOptions {
  /**
   * How often expired tickets are swept out of memory, in milliseconds.
   * @default 10000
   */
  sweepInterval?: number;
}

/**
 * Process-local ticket store. `take()` reads and deletes in one synchronous step, so it is atomic
 * within the process. Use it for a single instance; several instances need a shared store
 * (`RedisTicketStore`).
 */
export class MemoryTicketStore extends TicketStore implements OnApplicationShutdown {
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: MemoryTicketStoreOptions = {}) {
    super();
  }

  /** Number of tickets held, expired ones not yet swept included. */
  get size(): number {
    return this.entries.size;
  }

  async put(key: string, value: string, ttl: number): Promise<void> {
    this.entries.set(key, { value, expiresAt: Date.now() + ttl });
    this.timer ??= setInterval(() => this.sweep(), this.options.sweepInterval ?? 10_000).unref();
  }

  async take(key: string): Promise<string | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    return entry.expiresAt > Date.now() ? entry.value : undefined;
  }

  /** Drops every expired ticket now. Runs on a timer while tickets are held. */
  sweep(now = Date.now()): void {
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt <= now) this.entries.delete(key);
    }
    if (this.entries.size === 0) this.stopTimer();
  }

  onApplicationShutdown(): void {
    this.stopTimer();
    this.entries.clear();
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
