// Decides from tokenizer.json whether a newline cuts tokenization into independent halves, i.e.
//   ids(A + '\n' + B) = ids(A + '\n') ++ tail(B)   for every A and B, tail(B) = ids('\n' + B) minus ids('\n')
// which is what lets incremental-encoder.ts keep the tokens before a line and re-tokenize only the
// rest (issue #10). Pure.
//
// The argument, for @huggingface/tokenizers' pipeline (added-token split -> normalizer ->
// pre-tokenizer -> BPE -> byte fallback -> fuse_unk; the Mixtral/Llama SentencePiece-style setup):
// - Added tokens without '\n' and without lstrip/rstrip cannot match across a newline, nor trim it.
// - Prepend only adds text at the start of a section, Replace with a plain string pattern (no '\n'
//   in it or its replacement) cannot match across a newline; Metaspace is the same two steps. No
//   Unicode normalization (NFKC would not be local), no whitespace cleanup (remove_space).
// - With no pre-tokenizer split, a section is one BPE word, so BPE could in principle merge across
//   anything; but a merge needs the pair in `merges`, and no merge involves '\n' (no vocab piece
//   contains it). The '\n' symbol therefore never merges: merges left and right of it never see each
//   other, and the queue's order among them (rank, then position) is the same as in either half
//   alone. '\n' is not in the vocab, so byte fallback makes it exactly one '<0x0A>' token, and no
//   merge builds the piece '<0x0A>' from literal text, so that id only ever comes from a '\n'.
// Anything outside this list is reported as a problem and the caller tokenizes in full.

/** The byte-fallback piece a newline becomes. */
export const NEWLINE_PIECE = '<0x0A>';

type JsonObject = Record<string, unknown>;

function isObject(x: unknown): x is JsonObject {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function plainString(x: unknown): x is string {
  return typeof x === 'string' && !x.includes('\n');
}

function normalizerProblem(n: unknown): string | undefined {
  if (n === null || n === undefined) return undefined;
  if (!isObject(n)) return 'normalizer is not an object';
  switch (n.type) {
    case 'Sequence':
      if (!Array.isArray(n.normalizers)) return 'normalizer Sequence without a list';
      for (const inner of n.normalizers as unknown[]) {
        const problem = normalizerProblem(inner);
        if (problem) return problem;
      }
      return undefined;
    case 'Prepend':
      return plainString(n.prepend) ? undefined : 'Prepend normalizer adds a newline';
    case 'Replace': {
      const pattern = isObject(n.pattern) ? n.pattern.String : undefined;
      return plainString(pattern) && pattern.length > 0 && plainString(n.content)
        ? undefined
        : 'Replace normalizer is not a plain string replacement without newlines';
    }
    default:
      return `normalizer ${String(n.type)} is not known to be line-local`;
  }
}

function preTokenizerProblem(p: unknown): string | undefined {
  if (p === null || p === undefined) return undefined;
  if (!isObject(p)) return 'pre_tokenizer is not an object';
  if (p.type !== 'Metaspace')
    return `pre_tokenizer ${String(p.type)} is not known to be line-local`;
  const ok = [p.replacement, p.str_rep].every((x) => x === undefined || plainString(x));
  return ok ? undefined : 'Metaspace replacement contains a newline';
}

function mergeParts(m: unknown): [string, string] | undefined {
  if (typeof m === 'string') {
    const [a, b] = m.split(' ', 2);
    return a !== undefined && b !== undefined ? [a, b] : undefined;
  }
  if (Array.isArray(m) && typeof m[0] === 'string' && typeof m[1] === 'string') return [m[0], m[1]];
  return undefined;
}

function modelProblem(m: unknown): string | undefined {
  if (!isObject(m) || m.type !== 'BPE') return 'model is not BPE';
  if (m.byte_fallback !== true) return 'BPE without byte_fallback (a newline would be <unk>)';
  if (m.end_of_word_suffix || m.continuing_subword_suffix || m.continuing_subword_prefix)
    return 'BPE with word suffixes/prefixes';
  if (m.ignore_merges) return 'BPE with ignore_merges';
  if (m.dropout !== null && m.dropout !== undefined && m.dropout !== 0) return 'BPE with dropout';
  if (!isObject(m.vocab) || !Array.isArray(m.merges)) return 'BPE without vocab or merges';
  if (typeof m.vocab[NEWLINE_PIECE] !== 'number') return `vocab has no ${NEWLINE_PIECE}`;
  for (const piece of Object.keys(m.vocab))
    if (piece.includes('\n')) return 'a vocab piece contains a newline';
  for (const merge of m.merges as unknown[]) {
    const parts = mergeParts(merge);
    if (!parts) return 'a merge is malformed';
    if (parts[0].includes('\n') || parts[1].includes('\n')) return 'a merge involves a newline';
    if (parts[0] + parts[1] === NEWLINE_PIECE) return `a merge builds ${NEWLINE_PIECE} from text`;
  }
  return undefined;
}

function addedTokensProblem(tokens: unknown): string | undefined {
  if (tokens === undefined) return undefined;
  if (!Array.isArray(tokens)) return 'added_tokens is not a list';
  for (const t of tokens as unknown[]) {
    if (!isObject(t) || typeof t.content !== 'string') return 'an added token is malformed';
    if (t.content.includes('\n') || t.content === NEWLINE_PIECE)
      return `added token ${JSON.stringify(t.content)} involves a newline`;
    if (t.lstrip === true || t.rstrip === true)
      return `added token ${t.content} strips whitespace (could eat a newline)`;
  }
  return undefined;
}

/**
 * Undefined when a newline is a hard tokenization boundary for this tokenizer.json (see the top of
 * the file); otherwise the first reason it may not be, for the log.
 */
export function newlineBoundaryProblem(
  tokenizerJson: unknown,
  config: Readonly<Record<string, unknown>>, // tokenizer_config.json
): string | undefined {
  if (!isObject(tokenizerJson)) return 'tokenizer.json is not an object';
  if (config.remove_space === true) return 'tokenizer_config remove_space collapses whitespace';
  if (config.do_lowercase_and_remove_accent === true)
    return 'tokenizer_config do_lowercase_and_remove_accent';
  return (
    normalizerProblem(tokenizerJson.normalizer) ??
    preTokenizerProblem(tokenizerJson.pre_tokenizer) ??
    modelProblem(tokenizerJson.model) ??
    addedTokensProblem(tokenizerJson.added_tokens)
  );
}
