// Incremental tokenization of a stream of similar texts (inline-completion prompts, issue #10). Pure.
//
// Consecutive completion prompts share almost all their text: typing changes the end, an edit near
// the cursor changes the last lines. Tokenizing ~4000 characters costs the JS tokenizer ~30 ms on a
// small machine, most of the editor's overhead per completion. When a newline is a hard boundary of
// the tokenizer (tokenizer-locality.ts proves when), the ids of the previous prompt up to the last
// newline before the first changed character are still right, so only the text after that newline
// is tokenized. The result is the same ids as a full tokenization; anything unexpected falls back
// to a full tokenization rather than guessing.

/** What a newline looks like in ids, probed from the tokenizer itself. */
export interface NewlineSplit {
  /** Id of the newline token ('<0x0A>'). */
  newlineId: number;
  /** ids('\n'): the prefix a tail tokenized as '\n' + tail starts with (e.g. ['▁', '<0x0A>']). */
  lead: readonly number[];
}

/** How the last encode() ran (tests and the debug log). */
export type EncodePath =
  { kind: 'incremental'; keptTokens: number; tailChars: number } | { kind: 'full'; reason: string };

interface Reuse {
  keptTokens: number;
  tailStart: number;
}

function commonPrefixLength(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

/**
 * Where `text` can reuse `prevIds` (the ids of `prevText`): the tokens up to and including the
 * newline token of the last '\n' before the first differing character, and the character after
 * it where re-tokenization starts. A string says why there is no such point.
 */
export function planReuse(
  prevText: string,
  prevIds: readonly number[],
  text: string,
  newlineId: number,
): Reuse | string {
  const same = commonPrefixLength(prevText, text);
  if (same === 0) return 'nothing in common with the previous prompt';
  const cut = text.lastIndexOf('\n', same - 1); // in both texts: it lies before `same`
  if (cut < 0) return 'no newline before the first change';
  let newlines = 0;
  for (let i = 0; i <= cut; i++) if (text.charCodeAt(i) === 10) newlines++;
  // Each '\n' is exactly one newline token, in order; find the one for `cut`.
  for (let t = 0; t < prevIds.length; t++) {
    if (prevIds[t] === newlineId && --newlines === 0)
      return { keptTokens: t + 1, tailStart: cut + 1 };
  }
  return 'previous ids have fewer newline tokens than the text has newlines';
}

export class IncrementalEncoder {
  private prevText: string | undefined;
  private prevIds: readonly number[] = [];
  private path: EncodePath = { kind: 'full', reason: 'no encode yet' };

  /**
   * `encodeFull`: the tokenizer (no BOS). `split`: undefined when newlines are not a hard boundary
   * for this tokenizer; then every call is a full tokenization.
   */
  constructor(
    private readonly encodeFull: (text: string) => number[],
    private readonly split: NewlineSplit | undefined,
  ) {}

  get lastPath(): EncodePath {
    return this.path;
  }

  /** ids(text), equal to encodeFull(text). */
  encode(text: string): number[] {
    const ids = this.tryIncremental(text) ?? this.encodeFull(text);
    this.prevText = text;
    this.prevIds = ids;
    return [...ids];
  }

  private tryIncremental(text: string): number[] | undefined {
    const fallback = (reason: string): undefined => {
      this.path = { kind: 'full', reason };
      return undefined;
    };
    if (!this.split) return fallback('tokenizer: newline is not a hard boundary');
    if (this.prevText === undefined) return fallback('first prompt');
    const reuse = planReuse(this.prevText, this.prevIds, text, this.split.newlineId);
    if (typeof reuse === 'string') return fallback(reuse);
    const tail = this.encodeFull('\n' + text.slice(reuse.tailStart));
    const { lead } = this.split;
    // The '\n' we put in front must come out as the probed lead, else the boundary did not hold.
    for (let i = 0; i < lead.length; i++)
      if (tail[i] !== lead[i]) return fallback('tail did not start with the newline lead');
    this.path = {
      kind: 'incremental',
      keptTokens: reuse.keptTokens,
      tailChars: text.length - reuse.tailStart,
    };
    return this.prevIds.slice(0, reuse.keptTokens).concat(tail.slice(lead.length));
  }
}
