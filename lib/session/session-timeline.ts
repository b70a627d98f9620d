// setTimeout fires immediately for delays above 2^31 - 1 ms (about 24.8 days).
const MAX_DELAY = 2_147_483_647;

/** One pending moment of a {@link SessionTimeline}: where it sits in the heap, and whom to call. */
export interface TimelineEntry {
  /** Epoch milliseconds. */
  at: number;
  /** Index in the heap; -1 once out of it. */
  index: number;
  readonly fire: () => void;
}

/**
 * Every socket session's next moment (refresh warning, end) in one binary min-heap under one
 * `setTimeout`, set for the earliest: 20,000 sockets hold 20,000 small entries instead of 20,000
 * Node timers and the timer lists of their distinct delays. Entries are removed at once when a
 * socket closes (each knows its index), so nothing outlives its socket. The timer is not unref'd:
 * it exists exactly while a session is pending, and a leak would show as a live handle.
 */
export class SessionTimeline {
  private readonly heap: TimelineEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** When the timer fires; undefined when none is set. */
  private timerAt: number | undefined;

  /** `unref`: the timer never keeps the process alive (for clean-ups that may as well not run). */
  constructor(private readonly unref = false) {}

  /** Entries pending. */
  get size(): number {
    return this.heap.length;
  }

  /** Schedules `fire` at `at` (epoch milliseconds); returns the entry to {@link remove}. */
  add(at: number, fire: () => void): TimelineEntry {
    const entry: TimelineEntry = { at, index: this.heap.length, fire };
    this.heap.push(entry);
    this.up(entry.index);
    this.arm();
    return entry;
  }

  /** Takes an entry out (no-op when it fired or was removed already). */
  remove(entry: TimelineEntry): void {
    const { index } = entry;
    if (index < 0 || this.heap[index] !== entry) return;
    entry.index = -1;
    const last = this.heap.pop() as TimelineEntry;
    if (last !== entry) {
      this.heap[index] = last;
      last.index = index;
      this.down(index);
      this.up(last.index);
    }
    this.arm();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.timerAt = undefined;
    const now = Date.now();
    while (this.heap.length > 0 && this.heap[0].at <= now) {
      const entry = this.heap[0];
      this.remove(entry);
      try {
        entry.fire();
      } catch (error) {
        // As a timer callback's throw would be: uncaught, but after the other entries ran.
        process.nextTick(() => {
          throw error;
        });
      }
    }
    this.arm();
  };

  /** Sets the timer for the earliest entry (clears it when none). */
  private arm(): void {
    const first = this.heap[0];
    if (first === undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = undefined;
      return;
    }
    // A timer set no later than the earliest entry stays: if that entry went, it fires early once
    // and is set again, which costs less than resetting it at every removal.
    if (this.timer !== undefined && this.timerAt !== undefined && this.timerAt <= first.at) return;
    clearTimeout(this.timer);
    this.timerAt = first.at;
    this.timer = setTimeout(this.fire, Math.min(Math.max(0, first.at - Date.now()), MAX_DELAY));
    if (this.unref) this.timer.unref();
  }

  private up(index: number): void {
    const { heap } = this;
    const entry = heap[index];
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (heap[parent].at <= entry.at) break;
      heap[index] = heap[parent];
      heap[index].index = index;
      index = parent;
    }
    heap[index] = entry;
    entry.index = index;
  }

  private down(index: number): void {
    const { heap } = this;
    const entry = heap[index];
    const half = heap.length >> 1;
    while (index < half) {
      let child = 2 * index + 1;
      const right = child + 1;
      if (right < heap.length && heap[right].at < heap[child].at) child = right;
      if (heap[child].at >= entry.at) break;
      heap[index] = heap[child];
      heap[index].index = index;
      index = child;
    }
    heap[index] = entry;
    entry.index = index;
  }
}

/** The process's timeline: every adapter's sessions share it. */
export const sessionTimeline = new SessionTimeline();
