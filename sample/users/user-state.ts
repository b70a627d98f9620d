/**
 * Mutable per-user state of the sample: active flag and session version. In memory by default; with
 * REDIS_URL it lives in Redis so that several sample processes agree on it.
 */
export abstract class UserState {
  abstract isActive(id: string): Promise<boolean>;
  abstract deactivate(id: string): Promise<void>;
  /** Tokens carry the version they were signed with (`sv`); bumping it logs out every session. */
  abstract sessionVersion(id: string): Promise<number>;
  abstract bumpSessionVersion(id: string): Promise<number>;
}

export class MemoryUserState extends UserState {
  private readonly inactive = new Set<string>();
  private readonly versions = new Map<string, number>();

  async isActive(id: string): Promise<boolean> {
    return !this.inactive.has(id);
  }

  async deactivate(id: string): Promise<void> {
    this.inactive.add(id);
  }

  async sessionVersion(id: string): Promise<number> {
    return this.versions.get(id) ?? 0;
  }

  async bumpSessionVersion(id: string): Promise<number> {
    const next = (this.versions.get(id) ?? 0) + 1;
    this.versions.set(id, next);
    return next;
  }
}
