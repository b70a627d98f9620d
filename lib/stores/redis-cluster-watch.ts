/**
 * Watches the commands a cluster client sends: `onTrouble` hears each one that fails, and (once)
 * one still unanswered after `slow` milliseconds, which is how a frozen node shows. One interval
 * for all of them (every `slow / 2`), unref'd; commands are not timed one by one.
 */
export class CommandWatch {
  /** Starts of the commands in flight, oldest first (settled ones are swept). */
  private inFlight: { at: number; done: boolean }[] = [];
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly slow: number,
    private readonly onTrouble: (error: unknown) => void,
  ) {}

  /** Commands watched now (settled ones included until the next sweep). */
  get size(): number {
    return this.inFlight.length;
  }

  start(): void {
    this.sweeper ??= setInterval(() => this.sweep(), this.slow / 2);
    this.sweeper.unref();
  }

  stop(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.inFlight = [];
  }

  /** The client as its users see it: every promise one of its methods returns is watched. */
  wrap<T extends object>(client: T): T {
    return new Proxy(client, {
      get: (target, property) => {
        const value: unknown = Reflect.get(target, property, target);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const result: unknown = value.apply(target, args);
          if (result instanceof Promise) this.follow(result);
          return result;
        };
      },
    });
  }

  private follow(command: Promise<unknown>): void {
    const entry = { at: Date.now(), done: false };
    this.inFlight.push(entry);
    command.then(
      () => {
        entry.done = true;
      },
      (error: unknown) => {
        entry.done = true;
        this.onTrouble(error);
      },
    );
  }

  private sweep(): void {
    this.inFlight = this.inFlight.filter((entry) => !entry.done);
    const [oldest] = this.inFlight;
    if (oldest && Date.now() - oldest.at > this.slow) {
      this.inFlight = [];
      this.onTrouble(new Error(`a command was unanswered for ${this.slow} ms`));
    }
  }
}
