// Turns a stream of token ids into a stream of text, correctly across tokens that do not end on a
// character boundary. Pure: decoding is injected, so it unit-tests without a tokenizer.
//
// Why not decode each token alone: SentencePiece tokens carry their leading space as '▁' and the
// decoder strips the first one of a sequence, and byte-fallback tokens (<0xE2><0x82><0xAC> = '€')
// are only valid UTF-8 together. So, as Hugging Face's text-generation-inference does, we decode a
// small window twice, without and with the new tokens, and emit the difference once it no longer
// ends in U+FFFD (an incomplete UTF-8 sequence). The window starts at `context` (the last prompt
// tokens) so that a continuation's leading space survives the decoder's strip.

/** Decodes ids to text, special tokens (BOS/EOS) skipped. */
export type DecodeFn = (ids: readonly number[]) => string;

const REPLACEMENT_CHAR = '\uFFFD';

export class StreamDecoder {
  private ids: number[];
  /** Start of the window decoded for comparison. */
  private prefixOffset = 0;
  /** Tokens before this index have been emitted as text. */
  private readOffset: number;

  constructor(
    private readonly decode: DecodeFn,
    context: readonly number[] = [],
  ) {
    this.ids = [...context];
    this.readOffset = this.ids.length;
  }

  /** Adds one generated token; returns the text it completes ('' while a character is partial). */
  push(id: number): string {
    this.ids.push(id);
    const prefixText = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const fullText = this.decode(this.ids.slice(this.prefixOffset));
    if (fullText.length <= prefixText.length || fullText.endsWith(REPLACEMENT_CHAR)) return '';
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    this.compact();
    return fullText.slice(prefixText.length);
  }

  /** End of stream: returns whatever is still held back (an incomplete sequence decodes to U+FFFD). */
  flush(): string {
    if (this.readOffset >= this.ids.length) return '';
    const prefixText = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const fullText = this.decode(this.ids.slice(this.prefixOffset));
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    return fullText.length > prefixText.length ? fullText.slice(prefixText.length) : '';
  }

  /** Keeps memory flat over long generations: ids before the window are never read again. */
  private compact(): void {
    if (this.prefixOffset < 256) return;
    this.ids = this.ids.slice(this.prefixOffset);
    this.readOffset -= this.prefixOffset;
    this.prefixOffset = 0;
  }
}
