import { OnApplicationShutdown } from '@nestjs/common';
import { MemoryConnectionSets } from './memory-connection-sets.js';
import {
  TicketStore,
  type TicketStoreConnectionSlot,
  type TicketStoreCounter,
} from './ticket-store.js';

interface Entry {
  value: string;
  expiresAt: number;
  owner?: string;
}

interface Counter {
  count: number;
  resetAt: number;
}

/** Options of {@link MemoryTicketStore}. */
export interface MemoryTicketStoreOptions {
  /**
   * How often expired tickets and counters are swept out of memory, in milliseconds.
   * @default 10000
   */
  sweepInterval?: number | undefined;
}

/**
 * Process-local ticket store. `take()` reads and deletes in one synchronous step, so it is atomic
 * within the process. Use it for a single instance; several instances need a shared store
 * (`RedisTicketStore`).
 */
export class MemoryTicketStore extends TicketStore implements OnApplicationShutdown {
  private readonly entries = new Map<string, Entry>();
  private readonly owners = new Map<string, Set<string>>();
  private readonly counters = new Map<string, Counter>();
  private readonly generations = new Map<string, Counter>();
  private readonly connections = new MemoryConnectionSets();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: MemoryTicketStoreOptions = {}) {
    super();
  }

  /** Number of tickets held, expired ones not yet swept included. */
  get size(): number {
    return this.entries.size;
  }

  async put(key: string, value: string, ttl: number, owner?: string): Promise<void> {
    this.entries.set(key, { value, expiresAt: Date.now() + ttl, owner });
    if (owner) {
      const keys = this.owners.get(owner) ?? new Set<string>();
      keys.add(key);
      this.owners.set(owner, keys);
    }
    this.startTimer();
  }

  async take(key: string): Promise<string | undefined> {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.delete(key, entry);
    return entry.expiresAt > Date.now() ? entry.value : undefined;
  }

  override async revokeOwner(owner: string): Promise<number> {
    const keys = this.owners.get(owner);
    if (!keys) return 0;
    const now = Date.now();
    let live = 0;
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (entry && entry.expiresAt > now) live++;
      this.entries.delete(key);
    }
    this.owners.delete(owner);
    return live;
  }

  override async increment(key: string, window: number): Promise<TicketStoreCounter> {
    const now = Date.now();
    const counter = this.count(this.counters, key, window, now);
    return { count: counter.count, resetIn: counter.resetAt - now };
  }

  override async readGeneration(key: string, ttl?: number): Promise<number> {
    const now = Date.now();
    const generation = this.generations.get(key);
    if (!generation || generation.resetAt <= now) return 0;
    if (ttl !== undefined) generation.resetAt = Math.max(generation.resetAt, now + ttl);
    return generation.count;
  }

  override async bumpGeneration(key: string, ttl: number): Promise<number> {
    const now = Date.now();
    const generation = this.count(this.generations, key, ttl, now);
    generation.resetAt = Math.max(generation.resetAt, now + ttl);
    return generation.count;
  }

  override async acquireConnection(
    key: string,
    id: string,
    limit: number,
    lease: number,
    evictOldest: boolean,
  ): Promise<TicketStoreConnectionSlot> {
    const slot = this.connections.acquire(key, id, limit, lease, evictOldest, Date.now());
    this.startTimer();
    return slot;
  }

  override async renewConnections(
    key: string,
    ids: string[],
    limit: number,
    lease: number,
  ): Promise<string[]> {
    const lost = this.connections.renew(key, ids, limit, lease, Date.now());
    this.startTimer();
    return lost;
  }

  override async releaseConnection(key: string, id: string): Promise<void> {
    this.connections.release(key, id);
  }

  override async cancelConnection(key: string, id: string): Promise<void> {
    this.connections.cancel(key, id, Date.now());
  }

  override async countConnections(key: string): Promise<number> {
    return this.connections.count(key, Date.now());
  }

  /** Drops every expired ticket, counter, generation and connection slot now. Runs on a timer while any is held. */
  sweep(now = Date.now()): void {
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt <= now) this.delete(key, entry);
    }
    for (const counters of [this.counters, this.generations]) {
      for (const [key, counter] of counters) {
        if (counter.resetAt <= now) counters.delete(key);
      }
    }
    this.connections.sweep(now);
    const held = this.entries.size + this.counters.size + this.generations.size;
    if (held + this.connections.size === 0) {
      this.stopTimer();
    }
  }

  onApplicationShutdown(): void {
    this.stopTimer();
    this.entries.clear();
    this.owners.clear();
    this.counters.clear();
    this.generations.clear();
    this.connections.clear();
  }

  /** Adds one to a live counter, or starts one that lives `ttl` ms from `now`. */
  private count(counters: Map<string, Counter>, key: string, ttl: number, now: number): Counter {
    let counter = counters.get(key);
    if (!counter || counter.resetAt <= now) {
      counter = { count: 0, resetAt: now + ttl };
      counters.set(key, counter);
    }
    counter.count++;
    this.startTimer();
    return counter;
  }

  private delete(key: string, entry: Entry): void {
    this.entries.delete(key);
    if (!entry.owner) return;
    const keys = this.owners.get(entry.owner);
    keys?.delete(key);
    if (keys?.size === 0) this.owners.delete(entry.owner);
  }

  private startTimer(): void {
    this.timer ??= setInterval(() => this.sweep(), this.options.sweepInterval ?? 10_000).unref();
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
