// What the editor side adds to an inline completion over the engine's own compute (issue #10):
// round trip (the request really starting, after the debounce, to the provider returning the item)
// minus the engine's prefill + decode for that request. The rest is everything that is not the
// model: JSON-RPC both ways, the sidecar's queueing, tokenization, prompt building, stream decoding,
// post-processing. Pure: the clock is injected, so tests drive it by hand.
import type { GenerationResult } from '../protocol';

/** Milliseconds from an arbitrary origin, monotonic (performance.now() in the extension). */
export type Clock = () => number;

/** One completion that reached the editor as an item. */
export interface CompletionTiming {
  /** Request start (after the debounce) to the provider returning the item. */
  roundTripMs: number;
  /** Engine prefill + decode of the request, from the engine's counters. */
  engineMs: number;
  /** Engine time to first token (prefill + first sample). */
  ttftMs: number;
  /** roundTripMs - engineMs: what the editor, the sidecar and the IPC between them add. */
  overheadMs: number;
  completionTokens: number;
}

export interface TimingSummary {
  /** Completions measured since activation (the percentiles cover only the `recent` ones). */
  recorded: number;
  overheadP50Ms: number | null;
  overheadP90Ms: number | null;
  roundTripP50Ms: number | null;
  /** Oldest first, at most the window's capacity. */
  recent: CompletionTiming[];
}

/**
 * The figures of one delivered completion, or undefined when the engine's time is unknown (remote
 * mode: a remote server reports no engine counters, so no split is possible).
 */
export function timingOf(
  startMs: number,
  endMs: number,
  result: GenerationResult,
): CompletionTiming | undefined {
  if (result.engineMs === undefined) return undefined;
  const roundTripMs = endMs - startMs;
  return {
    roundTripMs,
    engineMs: result.engineMs,
    ttftMs: result.ttftMs,
    // Not clamped: the engine's runs lie inside the round trip, so a negative value is a bug
    // (e.g. engine time counted twice), and the tests should see it.
    overheadMs: roundTripMs - result.engineMs,
    completionTokens: result.completionTokens,
  };
}

/** `completion: round trip 41 ms = engine 35 ms (ttft 12 ms, 9 tokens) + editor 6 ms` */
export function formatTiming(t: CompletionTiming): string {
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  return (
    `completion: round trip ${ms(t.roundTripMs)} = engine ${ms(t.engineMs)} ` +
    `(ttft ${ms(t.ttftMs)}, ${t.completionTokens} tokens) + editor ${ms(t.overheadMs)}`
  );
}

/** Nearest-rank percentile (p in 0..100) of unsorted values; null for none. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** The last `capacity` timings, with percentiles of the editor overhead. */
export class TimingWindow {
  private readonly items: CompletionTiming[] = [];
  private count = 0;

  constructor(readonly capacity = 50) {}

  add(t: CompletionTiming): void {
    this.count++;
    this.items.push(t);
    if (this.items.length > this.capacity) this.items.shift();
  }

  summary(): TimingSummary {
    const overhead = this.items.map((t) => t.overheadMs);
    return {
      recorded: this.count,
      overheadP50Ms: percentile(overhead, 50),
      overheadP90Ms: percentile(overhead, 90),
      roundTripP50Ms: percentile(
        this.items.map((t) => t.roundTripMs),
        50,
      ),
      recent: [...this.items],
    };
  }
}
