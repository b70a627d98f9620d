/** The most removals remembered at once: the oldest go first beyond it. */
const MAX_REMOVALS = 10_000;

/**
 * Removals (`removeFromRoom`) of the last few minutes, by user and room, for the sockets that were
 * away when they were made: Socket.IO's connection-state recovery gives a socket back every room it
 * had when it dropped, a room the server joined it to included, which no rule re-checks. A
 * recovered socket leaves the rooms of its user removed within the recovery window.
 */
export class RecentRemovals {
  /** `userId \0 room` → when the memory of it ends (epoch ms), and the removal's code. */
  private readonly removals = new Map<string, { until: number; code: string }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Remembers a removal for `window` milliseconds. */
  record(userId: string, room: string, code: string, window: number): void {
    const key = keyOf(userId, room);
    this.removals.delete(key);
    this.removals.set(key, { until: this.now() + window, code });
    this.prune();
  }

  /** The code of a removal of the user from the room still remembered, if any. */
  removal(userId: string, room: string): string | undefined {
    const found = this.removals.get(keyOf(userId, room));
    return found && found.until > this.now() ? found.code : undefined;
  }

  /** Removals remembered (for tests: the memory stays this small). */
  get size(): number {
    return this.removals.size;
  }

  private prune(): void {
    const now = this.now();
    // Oldest first (insertion order; a repeated removal moves to the end).
    for (const [key, { until }] of this.removals) {
      if (this.removals.size <= MAX_REMOVALS && until > now) break;
      this.removals.delete(key);
    }
  }
}

function keyOf(userId: string, room: string): string {
  return `${userId}\u0000${room}`;
}
