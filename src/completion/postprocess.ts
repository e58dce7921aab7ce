// Turns raw model output into the text shown as ghost text, or a named reason to show nothing.
// Rules, in order: one line unless multi-line is allowed; stop at a line that leaves the cursor's
// block (dedent); stop where the text starts repeating what already follows the cursor; cut at a
// closing bracket that has no opener (the suffix already closes it); trim; drop empty or
// duplicate suggestions.
import type { MultilinePolicy } from '../config/schema';

export interface PostprocessInput {
  raw: string;
  linePrefix: string;
  lineSuffix: string;
  /** Text after the cursor (the suffix sent to the model). */
  suffix: string;
  /** Text before the cursor (for unclosed brackets). */
  prefix: string;
  multiline: boolean;
}

export type PostprocessResult = { ok: true; text: string } | { ok: false; reason: DiscardReason };
export type DiscardReason = 'empty' | 'repeats-suffix' | 'only-closing-brackets';

const OPEN = '([{';
const CLOSE = ')]}';

/**
 * Decides whether a suggestion may span several lines. 'auto': only when nothing but whitespace
 * follows the cursor on its line and the line is blank or opens a block — elsewhere the user is
 * mid-expression and a multi-line guess is mostly noise.
 */
export function allowMultiline(
  policy: MultilinePolicy,
  linePrefix: string,
  lineSuffix: string,
): boolean {
  if (policy === 'always') return true;
  if (policy === 'never') return false;
  if (lineSuffix.trim() !== '') return false;
  return (
    linePrefix.trim() === '' ||
    /[{([:]\s*$/.test(linePrefix) ||
    /(=>|\bthen|\bdo)\s*$/.test(linePrefix)
  );
}

function indentOf(line: string): number {
  let n = 0;
  for (const ch of line) {
    if (ch === ' ') n += 1;
    else if (ch === '\t') n += 4;
    else break;
  }
  return n;
}

/** Openers left unclosed at the end of `text` (naive: ignores brackets inside strings/comments). */
export function unclosedOpeners(text: string): string[] {
  const stack: string[] = [];
  for (const ch of text) {
    const o = OPEN.indexOf(ch);
    if (o !== -1) stack.push(ch);
    else {
      const c = CLOSE.indexOf(ch);
      if (c !== -1 && stack.length && stack[stack.length - 1] === OPEN[c]) stack.pop();
    }
  }
  return stack;
}

/**
 * Cuts `text` before the first closing bracket that matches nothing: neither an opener inside the
 * text nor an opener before the cursor that the rest of the line has not closed already.
 */
export function cutUnbalanced(text: string, prefix: string, lineSuffix: string): string {
  const outer = unclosedOpeners(prefix.slice(-2000));
  // Closers already present after the cursor close the innermost outer openers first.
  for (const ch of lineSuffix) {
    const c = CLOSE.indexOf(ch);
    if (c !== -1 && outer.length && outer[outer.length - 1] === OPEN[c]) outer.pop();
  }
  const stack: string[] = [];
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = null;
      continue;
    }
    if (ch === '"' || ch === "'" || ch === '`') {
      quote = ch;
      continue;
    }
    if (OPEN.includes(ch)) stack.push(ch);
    const c = CLOSE.indexOf(ch);
    if (c === -1) continue;
    if (stack.length) {
      if (stack[stack.length - 1] !== OPEN[c]) return text.slice(0, i);
      stack.pop();
    } else if (outer.length && outer[outer.length - 1] === OPEN[c]) {
      outer.pop();
    } else {
      return text.slice(0, i);
    }
  }
  return text;
}

export function postprocess(input: PostprocessInput): PostprocessResult {
  let text = input.raw.replace(/\r\n/g, '\n');
  const suffixLines = input.suffix.replace(/\r\n/g, '\n').split('\n');

  let lines = text.split('\n');
  if (!input.multiline) lines = lines.slice(0, 1);
  else {
    // The block's indentation: that of the cursor line, or one level deeper after an opener.
    const baseIndent = indentOf(input.linePrefix);
    const nextSuffixLines = suffixLines
      .slice(1)
      .map((l) => l.trim())
      .filter((l) => l !== '');
    const kept: string[] = [lines[0]];
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const trimmed = line.trim();
      if (trimmed !== '' && indentOf(line) < baseIndent) break; // leaves the block
      if (trimmed !== '' && nextSuffixLines.length && trimmed === nextSuffixLines[0]) break; // repeats what follows
      kept.push(line);
    }
    lines = kept;
  }
  text = lines.join('\n');

  // The model often re-emits the rest of the line (e.g. the closing ")" that is already there).
  const restOfLine = input.lineSuffix.trim();
  if (restOfLine && lines.length === 1 && text.trimEnd().endsWith(restOfLine)) {
    text = text.trimEnd().slice(0, -restOfLine.length);
  }

  text = cutUnbalanced(text, input.prefix, input.lineSuffix);
  text = text.replace(/[ \t]+$/gm, '').replace(/\n+$/, '');

  if (text.trim() === '') return { ok: false, reason: 'empty' };
  if (/^[\s)\]};,]*$/.test(text)) return { ok: false, reason: 'only-closing-brackets' };
  if (input.suffix.replace(/\r\n/g, '\n').startsWith(text))
    return { ok: false, reason: 'repeats-suffix' };
  return { ok: true, text };
}
