// LRU cache of finished suggestions keyed by (prefix, suffix). With offloaded experts a cache hit
// is the only instant completion, so it also answers when the user types *into* a suggestion:
// the typed characters are a prefix of the cached text, and the rest is still valid.

export interface CacheHit {
  text: string;
  /** 'exact': same context; 'typed-through': the user typed the first characters of the suggestion. */
  kind: 'exact' | 'typed-through';
}

const SEP = '\u0000';

export class SuggestionCache {
  private readonly map = new Map<string, string>();

  constructor(private readonly capacity = 64) {}

  get size(): number {
    return this.map.size;
  }

  set(prefix: string, suffix: string, suggestion: string): void {
    const key = prefix + SEP + suffix;
    this.map.delete(key);
    this.map.set(key, suggestion);
    while (this.map.size > this.capacity) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
    }
  }

  get(prefix: string, suffix: string): CacheHit | undefined {
    const key = prefix + SEP + suffix;
    const exact = this.map.get(key);
    if (exact !== undefined) {
      this.touch(key, exact);
      return { text: exact, kind: 'exact' };
    }
    // Typed-through: an entry whose prefix plus part of its suggestion equals the new prefix.
    // Newest entries first: they are the likeliest to be the suggestion on screen.
    const entries = [...this.map.entries()].reverse();
    for (const [k, suggestion] of entries) {
      const sep = k.indexOf(SEP);
      const oldPrefix = k.slice(0, sep);
      const oldSuffix = k.slice(sep + 1);
      if (
        oldSuffix !== suffix ||
        prefix.length <= oldPrefix.length ||
        !prefix.startsWith(oldPrefix)
      )
        continue;
      const typed = prefix.slice(oldPrefix.length);
      if (suggestion.startsWith(typed) && suggestion.length > typed.length) {
        this.touch(k, suggestion);
        return { text: suggestion.slice(typed.length), kind: 'typed-through' };
      }
    }
    return undefined;
  }

  clear(): void {
    this.map.clear();
  }

  private touch(key: string, value: string): void {
    this.map.delete(key);
    this.map.set(key, value);
  }
}
