/**
 * This process's recent revocations, by user id, on the monotonic clock: what lets a handshake in
 * flight, or a shared consumption, learn that its user was revoked after it started, with no store
 * round trip and no clock skew. The store's revocation generation (checked by the service) covers
 * the other instances. An entry is kept for `horizon` milliseconds, longer than any handshake can
 * take and any consumption can be shared, so the map holds only the users revoked that recently.
 */
export class LocalRevocations {
  /** Insertion order is time order (an entry is re-inserted when renewed): pruning stops early. */
  private readonly revokedAt = new Map<string, number>();

  constructor(private readonly horizon: number) {}

  /** Records that the user was revoked now. */
  revoke(userId: string): void {
    const now = performance.now();
    this.prune(now);
    this.revokedAt.delete(userId);
    this.revokedAt.set(userId, now);
  }

  /** True when the user was revoked at or after `startedAt` (a `performance.now()` value). */
  revokedSince(userId: string, startedAt: number): boolean {
    const at = this.revokedAt.get(userId);
    return at !== undefined && at >= startedAt;
  }

  /** Users remembered now (for tests: the map only holds recent revocations). */
  get size(): number {
    this.prune(performance.now());
    return this.revokedAt.size;
  }

  private prune(now: number): void {
    for (const [userId, at] of this.revokedAt) {
      if (now - at <= this.horizon) break;
      this.revokedAt.delete(userId);
    }
  }
}
