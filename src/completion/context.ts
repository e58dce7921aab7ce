// What the model sees around the cursor: a prefix and suffix cut to a character budget.
// The prefix start is snapped to a coarse grid and then to a line start, so that while the user
// types it stays put: consecutive requests share a byte-identical prompt head, which is what lets
// the engine reuse its KV cache for the prefix (and keeps our own cache keys comparable).

export interface ContextOptions {
  maxPrefixChars: number;
  maxSuffixChars: number;
}

/** A slice of the document: `text` starts at absolute offset `start`. */
export interface TextWindow {
  text: string;
  start: number;
}

export interface CompletionContext {
  prefix: string;
  suffix: string;
  /** Absolute document offset where `prefix` begins (stable while typing; see above). */
  prefixStart: number;
  /** Text of the cursor's line before / after the cursor. */
  linePrefix: string;
  lineSuffix: string;
}

/** Size of the grid the prefix start snaps to: a quarter of the budget. */
export function prefixGrid(maxPrefixChars: number): number {
  return Math.max(1, Math.floor(maxPrefixChars / 4));
}

/**
 * How much text before the cursor the caller must read so that `extractContext` can snap:
 * the budget plus one grid step.
 */
export function windowBefore(options: ContextOptions): number {
  return options.maxPrefixChars + prefixGrid(options.maxPrefixChars);
}

/** How much text after the cursor the caller must read: one character more than the budget, so
 * that a window cut by the caller and the real end of the document are told apart. */
export function windowAfter(options: ContextOptions): number {
  return options.maxSuffixChars + 1;
}

/**
 * Extracts the context around `cursor` (absolute offset) from `window`, which must cover
 * [cursor - windowBefore(options), cursor + windowAfter(options)] where the document has that much text.
 */
export function extractContext(
  window: TextWindow,
  cursor: number,
  options: ContextOptions,
): CompletionContext {
  const at = cursor - window.start;
  if (at < 0 || at > window.text.length) throw new RangeError('cursor outside the text window');
  const text = window.text;

  // Earliest allowed start, rounded *up* to the grid: it moves only when the cursor crosses a grid line.
  const grid = prefixGrid(options.maxPrefixChars);
  const earliest = cursor - options.maxPrefixChars;
  let startAbs = earliest <= 0 ? 0 : Math.ceil(earliest / grid) * grid;
  startAbs = Math.max(startAbs, window.start);
  let start = startAbs - window.start;
  if (startAbs > 0 && start > 0) {
    // Begin at a line start so the model never sees half a line (and the cut is stable).
    const nl = text.indexOf('\n', start - 1);
    if (nl !== -1 && nl < at) start = nl + 1;
  }
  const prefix = text.slice(start, at);

  let end = Math.min(text.length, at + options.maxSuffixChars);
  if (end < text.length) {
    // End after a full line; a partial last line is noise for fill-in-the-middle.
    const lastNl = text.lastIndexOf('\n', end);
    if (lastNl >= at) end = lastNl + 1;
  }
  const suffix = text.slice(at, end);

  const lineStart = text.lastIndexOf('\n', at - 1) + 1;
  const lineEndRaw = text.indexOf('\n', at);
  const lineEnd = lineEndRaw === -1 ? text.length : lineEndRaw;
  return {
    prefix,
    suffix,
    prefixStart: window.start + start,
    linePrefix: text.slice(lineStart, at).replace(/\r$/, ''),
    lineSuffix: text.slice(at, lineEnd).replace(/\r$/, ''),
  };
}
