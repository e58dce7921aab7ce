// Rate limit for status notifications. Pure (the clock and timer are injectable): at most one call
// per interval, and the last request in a burst is never lost (trailing call).
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export class Throttle {
  private last = -Infinity;
  private pending: unknown;

  constructor(
    private readonly intervalMs: number,
    private readonly fn: () => void,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Runs fn now if the interval has passed, else once at the end of the interval. */
  request(): void {
    if (this.pending !== undefined) return;
    const wait = this.last + this.intervalMs - this.clock.now();
    if (wait <= 0) {
      this.fire();
    } else {
      this.pending = this.clock.setTimeout(() => this.fire(), wait);
    }
  }

  /** Runs fn now (state changes such as ready/error must not wait), cancelling a pending call. */
  flush(): void {
    this.fire();
  }

  dispose(): void {
    if (this.pending !== undefined) this.clock.clearTimeout(this.pending);
    this.pending = undefined;
  }

  private fire(): void {
    this.dispose();
    this.last = this.clock.now();
    this.fn();
  }
}
