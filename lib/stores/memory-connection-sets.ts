import type { TicketStoreConnectionSlot } from './ticket-store.js';

interface Slot {
  /** Epoch milliseconds at which the lease runs out (for an evicted slot: when it is forgotten). */
  expiresAt: number;
  /** Taken out by another connection's `evictOldest`, not yet reported to its holder. */
  evicted: boolean;
  /** The id whose acquisition evicted it. */
  evictedBy?: string | undefined;
}

/**
 * The connection sets of {@link MemoryTicketStore} (the `maxConnectionsPerUser` slots): one `Map`
 * per key, whose insertion order is the connections' age. Every operation first forgets what ran
 * out, so a set never holds more than `limit` live slots plus the evicted ones of one lease.
 */
export class MemoryConnectionSets {
  private readonly sets = new Map<string, Map<string, Slot>>();

  /** Keys held (sets with at least one slot, run-out ones not yet swept included). */
  get size(): number {
    return this.sets.size;
  }

  acquire(
    key: string,
    id: string,
    limit: number,
    lease: number,
    evictOldest: boolean,
    now: number,
  ): TicketStoreConnectionSlot {
    const set = this.live(key, now) ?? new Map<string, Slot>();
    const own = set.get(id);
    if (own && !own.evicted) {
      own.expiresAt = now + lease;
      return { acquired: true, evicted: [] };
    }
    const holders = [...set].filter(([, slot]) => !slot.evicted);
    const evicted: string[] = [];
    if (holders.length >= limit) {
      // Refused: the set stays as it was, an eviction mark of `id` included.
      if (!evictOldest) return { acquired: false, evicted };
      for (const [oldest, slot] of holders.slice(0, holders.length - limit + 1)) {
        slot.evicted = true;
        slot.evictedBy = id;
        evicted.push(oldest);
      }
    }
    // Its eviction mark, if any, goes: the new slot is the newest.
    set.delete(id);
    set.set(id, { expiresAt: now + lease, evicted: false });
    this.sets.set(key, set);
    return { acquired: true, evicted };
  }

  renew(key: string, ids: readonly string[], limit: number, lease: number, now: number): string[] {
    const set = this.live(key, now) ?? new Map<string, Slot>();
    const lost: string[] = [];
    for (const id of ids) {
      const slot = set.get(id);
      if (slot?.evicted) {
        set.delete(id);
        lost.push(id);
      } else if (slot) {
        slot.expiresAt = now + lease;
      } else if (this.holders(set) < limit) {
        set.set(id, { expiresAt: now + lease, evicted: false });
      } else {
        lost.push(id);
      }
    }
    if (set.size > 0) this.sets.set(key, set);
    else this.sets.delete(key);
    return lost;
  }

  release(key: string, id: string): void {
    const set = this.sets.get(key);
    set?.delete(id);
    if (set?.size === 0) this.sets.delete(key);
  }

  /** Undoes an unanswered acquisition: its live slot goes to one connection it evicted. */
  cancel(key: string, id: string, now: number): void {
    const set = this.live(key, now);
    const own = set?.get(id);
    if (set && own && !own.evicted) {
      // The youngest it displaced gets the slot back, in its place by age.
      const displaced = [...set.values()].filter((slot) => slot.evicted && slot.evictedBy === id);
      const restored = displaced[displaced.length - 1];
      if (restored) {
        restored.evicted = false;
        restored.evictedBy = undefined;
      }
    }
    this.release(key, id);
  }

  count(key: string, now: number): number {
    const set = this.live(key, now);
    return set ? this.holders(set) : 0;
  }

  /** Forgets every slot that ran out. */
  sweep(now: number): void {
    for (const key of [...this.sets.keys()]) this.live(key, now);
  }

  clear(): void {
    this.sets.clear();
  }

  /** The set of `key` without what ran out, or `undefined` when nothing is left. */
  private live(key: string, now: number): Map<string, Slot> | undefined {
    const set = this.sets.get(key);
    if (!set) return undefined;
    for (const [id, slot] of set) if (slot.expiresAt <= now) set.delete(id);
    if (set.size > 0) return set;
    this.sets.delete(key);
    return undefined;
  }

  private holders(set: Map<string, Slot>): number {
    let count = 0;
    for (const slot of set.values()) if (!slot.evicted) count++;
    return count;
  }
}
