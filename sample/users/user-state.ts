import { ServiceUnavailableException } from '@nestjs/common';

/**
 * Mutable per-user state of the sample: active flag and session version. In memory by default; with
 * REDIS_URL it lives in Redis (`RedisUserState`) so that several sample processes agree on it.
 * Implementations throw {@link UserStateUnavailableError} when their backend cannot be reached.
 */
export abstract class UserState {
  abstract isActive(id: string): Promise<boolean>;
  abstract deactivate(id: string): Promise<void>;
  /** Tokens carry the version they were signed with (`sv`); bumping it logs out every session. */
  abstract sessionVersion(id: string): Promise<number>;
  abstract bumpSessionVersion(id: string): Promise<number>;
}

/**
 * The user state cannot be read or written right now. HTTP routes answer 503 (it is an
 * `HttpException`); the ticket module's `resolveUser` turns it into `store_unavailable`.
 */
export class UserStateUnavailableError extends ServiceUnavailableException {
  constructor(options?: { cause?: unknown }) {
    super(
      {
        statusCode: 503,
        error: 'Service Unavailable',
        code: 'user_state_unavailable',
        message: 'User state is unavailable; try again shortly.',
      },
      { cause: options?.cause },
    );
  }
}

/** Process-local state: right for one sample process, and the default. */
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
