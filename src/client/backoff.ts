// Restart policy after a sidecar crash: exponential delay, and a crash-loop guard that stops
// retrying (the user then sees an error with actions) when crashes keep coming. Pure and clocked
// from outside so tests need no timers.

export interface BackoffOptions {
  /** Delay before the first retry. */
  initialMs: number;
  /** Ceiling of the delay. */
  maxMs: number;
  /** Give up after this many crashes within `windowMs`. */
  maxCrashes: number;
  windowMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
  initialMs: 1000,
  maxMs: 30_000,
  maxCrashes: 5,
  windowMs: 3 * 60_000,
};

export type BackoffDecision =
  { retry: true; delayMs: number; attempt: number } | { retry: false; crashes: number };

export class Backoff {
  private crashes: number[] = [];

  constructor(private readonly options: BackoffOptions = DEFAULT_BACKOFF) {}

  /** Records a crash at `now` and says whether and when to restart. */
  onCrash(now: number): BackoffDecision {
    this.crashes = this.crashes.filter((t) => now - t < this.options.windowMs);
    this.crashes.push(now);
    const n = this.crashes.length;
    if (n >= this.options.maxCrashes) return { retry: false, crashes: n };
    const delayMs = Math.min(this.options.maxMs, this.options.initialMs * 2 ** (n - 1));
    return { retry: true, delayMs, attempt: n };
  }

  /** Forget past crashes (a manual restart or a settings change is a fresh start). */
  reset(): void {
    this.crashes = [];
  }
}
