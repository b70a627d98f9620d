import { sessionTimeline, type TimelineEntry } from './session-timeline.js';

/** What a {@link SessionClock} does at its two moments. */
export interface SessionClockHooks {
  /** Time to refresh: the session ends at `expiresAt` (epoch milliseconds) unless refreshed. */
  expiring(expiresAt: number): void;
  /** The session ended. */
  end(): void;
}

/**
 * One socket's session timeline, with one moment pending at a time (an entry of the process's
 * {@link sessionTimeline}, not a timer of its own): `expiring` `window` milliseconds before
 * the end (halfway through the time left when less than that is left, so that a session shorter
 * than the window is refreshed at a steady pace, never in a loop; once per end), then `end`. A
 * refresh moves the end with {@link set}; {@link stop} when the socket closes, so that it leaves no
 * timer behind.
 */
export class SessionClock {
  private timer: TimelineEntry | undefined;
  private endsAt: number | undefined;
  /** When to call `expiring` for the current end; undefined once called, or never. */
  private warnAt: number | undefined;
  /** The end `expiring` was last called for: a refresh that keeps the end does not ask again. */
  private warnedFor: number | undefined;

  constructor(
    /** Milliseconds; 0: never `expiring`. */
    private readonly window: number,
    private readonly hooks: SessionClockHooks,
  ) {}

  /** The end now, epoch milliseconds; undefined when none (or after it was reached). */
  get end(): number | undefined {
    return this.endsAt;
  }

  /** Sets or moves the end (epoch milliseconds); `undefined`: the session has none. */
  set(endsAt: number | undefined): void {
    this.cancel();
    this.endsAt = endsAt;
    this.warnAt = undefined;
    if (endsAt === undefined) return;
    if (this.window > 0 && endsAt !== this.warnedFor) {
      const now = Date.now();
      this.warnAt = Math.max(endsAt - this.window, now + (endsAt - now) / 2);
    }
    this.arm();
  }

  /** Cancels everything: nothing fires after this. */
  stop(): void {
    this.cancel();
    this.endsAt = undefined;
    this.warnAt = undefined;
  }

  private readonly arm = (): void => {
    this.timer = undefined;
    const endsAt = this.endsAt;
    if (endsAt === undefined) return;
    const now = Date.now();
    if (this.warnAt !== undefined && this.warnAt > now) {
      this.timer = sessionTimeline.add(this.warnAt, this.arm);
      return;
    }
    if (this.warnAt !== undefined && endsAt > now) {
      this.warnAt = undefined;
      this.warnedFor = endsAt;
      this.hooks.expiring(endsAt);
      // The hook may have moved or stopped the clock.
      if (this.endsAt !== endsAt || this.timer !== undefined) return;
    }
    if (endsAt <= now) {
      this.stop();
      this.hooks.end();
      return;
    }
    this.timer = sessionTimeline.add(endsAt, this.arm);
  };

  private cancel(): void {
    if (this.timer !== undefined) sessionTimeline.remove(this.timer);
    this.timer = undefined;
  }
}
