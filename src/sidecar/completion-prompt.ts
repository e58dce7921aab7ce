// Builds the prompt for an inline completion. Pure.
//
// Prompt design. Mixtral (and our embedded model) was never trained on fill-in-the-middle tokens,
// so a FIM prompt (<PRE>/<SUF>/<MID>) would be noise to it. What a base or instruct model does well
// is continue a document, so the prompt is the document up to the cursor:
//
//   <BOS>{comment} File: {fileName}\n
//   {comment} Language: {languageId}\n
//   {prefix}
//
// The two header lines are written as comments of the file's own language, so they look like
// something a real file could start with: they tell the model which language and project it is in
// without breaking the code's syntax. Only the prefix's tail is kept when the prompt is too long
// (the header is always kept: it is what keeps the model from drifting to another language).
//
// The suffix is not put into the prompt: a model without FIM training would continue *into* it
// (typically repeating it). It is used only as context for stopping: the first non-blank line after
// the cursor becomes a stop sequence when it is distinctive (long enough), since generating it
// again means the model has reached code that already exists. Trimming the context to a budget and
// post-processing the suggestion (dedup with following lines, indentation) is the client's job.

export interface CompletionPromptInput {
  prefix: string;
  suffix: string;
  languageId: string;
  fileName?: string;
}

export interface CompletionPrompt {
  /** Header lines (without BOS): always kept. */
  header: string;
  /** Text before the cursor: trimmed from the start when the prompt is too long. */
  body: string;
  /** Stop sequences derived from the suffix (added to the client's). */
  stops: string[];
}

/** Shortest suffix line used as a stop sequence: shorter ones ('}', 'end') occur everywhere. */
export const MIN_SUFFIX_STOP_LENGTH = 8;

const HASH_COMMENT = new Set([
  'python',
  'shellscript',
  'ruby',
  'perl',
  'r',
  'yaml',
  'toml',
  'dockerfile',
  'makefile',
  'cmake',
  'powershell',
  'coffeescript',
  'julia',
  'elixir',
  'nim',
  'properties',
  'ini',
]);
const DASH_COMMENT = new Set(['sql', 'lua', 'haskell', 'elm', 'ada', 'vhdl']);
const PERCENT_COMMENT = new Set(['latex', 'tex', 'matlab', 'erlang', 'prolog']);
const SEMICOLON_COMMENT = new Set(['clojure', 'lisp', 'scheme', 'racket', 'asm']);
const MARKUP_COMMENT = new Set(['html', 'xml', 'markdown', 'vue-html', 'svg']);

/** Wraps `text` as a one-line comment in `languageId` ('//' when the language is unknown). */
export function lineComment(languageId: string, text: string): string {
  const id = languageId.toLowerCase();
  if (HASH_COMMENT.has(id)) return `# ${text}`;
  if (DASH_COMMENT.has(id)) return `-- ${text}`;
  if (PERCENT_COMMENT.has(id)) return `% ${text}`;
  if (SEMICOLON_COMMENT.has(id)) return `; ${text}`;
  if (MARKUP_COMMENT.has(id)) return `<!-- ${text} -->`;
  if (id === 'css') return `/* ${text} */`;
  return `// ${text}`;
}

/** Keeps header lines single-line whatever the client sends. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').trim();
}

export function buildCompletionPrompt(input: CompletionPromptInput): CompletionPrompt {
  const lines: string[] = [];
  if (input.fileName) lines.push(lineComment(input.languageId, `File: ${oneLine(input.fileName)}`));
  if (input.languageId)
    lines.push(lineComment(input.languageId, `Language: ${oneLine(input.languageId)}`));
  const header = lines.length ? lines.join('\n') + '\n' : '';
  return { header, body: input.prefix, stops: suffixStops(input.suffix) };
}

export function suffixStops(suffix: string): string[] {
  const firstLine = suffix
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.length > 0);
  return firstLine !== undefined && firstLine.length >= MIN_SUFFIX_STOP_LENGTH ? [firstLine] : [];
}

/**
 * Tokenizes header + body within `budget` tokens. The two are tokenized together (a SentencePiece
 * tokenizer would put a spurious '▁' at the start of a separately tokenized body); when too long,
 * whole lines are dropped from the start of the body (the text nearest the cursor matters most) and
 * the result re-tokenized. `encode` adds BOS itself when the model wants one.
 */
export function fitPrompt(
  encode: (text: string) => number[],
  prompt: CompletionPrompt,
  budget: number,
): number[] {
  let body = prompt.body;
  for (let attempt = 0; attempt < 8; attempt++) {
    const ids = encode(prompt.header + body);
    if (ids.length <= budget || body.length === 0) return ids.slice(0, Math.max(budget, 0));
    // Drop a little more than the overflow's share of characters, then round to a line start.
    const keep = Math.floor((body.length * budget * 0.9) / ids.length);
    const cut = body.length - keep;
    const lineStart = body.indexOf('\n', cut);
    body =
      lineStart >= 0 && lineStart < body.length - 1 ? body.slice(lineStart + 1) : body.slice(cut);
  }
  return encode(prompt.header).slice(0, Math.max(budget, 0));
}
