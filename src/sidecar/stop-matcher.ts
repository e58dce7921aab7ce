// Applies text stop sequences to streamed text. Pure.
//
// A stop sequence can arrive split over several chunks ("\n\n" as "\n" + "\n"), so text that could
// be the start of a stop sequence is held back until the next chunk decides; text before a match is
// emitted, the stop sequence itself and everything after it are not.

export interface StopMatch {
  /** Text that is safe to emit now. */
  text: string;
  /** True once a stop sequence was seen; later pushes return ''. */
  stopped: boolean;
}

export class StopMatcher {
  private readonly stops: string[];
  private pending = '';
  private done = false;

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  get stopped(): boolean {
    return this.done;
  }

  push(chunk: string): StopMatch {
    if (this.done) return { text: '', stopped: true };
    this.pending += chunk;
    let first = -1;
    for (const stop of this.stops) {
      const at = this.pending.indexOf(stop);
      if (at >= 0 && (first < 0 || at < first)) first = at;
    }
    if (first >= 0) {
      const text = this.pending.slice(0, first);
      this.pending = '';
      this.done = true;
      return { text, stopped: true };
    }
    const hold = this.heldTailLength();
    const text = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return { text, stopped: false };
  }

  /** End of generation: the held-back tail was not a stop sequence after all. */
  flush(): string {
    const text = this.done ? '' : this.pending;
    this.pending = '';
    return text;
  }

  /** Length of the longest suffix of `pending` that is a proper prefix of some stop sequence. */
  private heldTailLength(): number {
    let best = 0;
    for (const stop of this.stops) {
      const max = Math.min(stop.length - 1, this.pending.length);
      for (let n = max; n > best; n--) {
        if (this.pending.endsWith(stop.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}
