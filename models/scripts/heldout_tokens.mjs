// Writes a held-out token-id sample for `moe perplexity` (test/fixtures/embedded/heldout_tokens.txt).
//
// The held-out split of the embedded model's corpus is deterministic: build_corpus.py puts a file in
// it when int(sha1(normalised text)[:8], 16) % 100 < 2, and writes those documents, joined by "\x1e",
// to .corpus/heldout_code.txt.xz (not committed; rebuild it with `python3 models/scripts/build_corpus.py`).
// None of them was trained on. This script tokenizes them exactly as train.py's evaluate() saw them
// ([BOS] + ids + [EOS] per document, add_special_tokens=false) with the model's own tokenizer.json,
// through @huggingface/tokenizers (the library the sidecar uses).
//
// The sample: documents in the order i·7 mod n (7 is coprime to the 181 documents, so the walk visits
// Python, JavaScript and C files alike instead of only the first, alphabetically-sorted ones), each
// cut to at most 2048 tokens so no single file dominates, until --tokens ids (default 32768).
//
//   xz -dc .corpus/heldout_code.txt.xz | node models/scripts/heldout_tokens.mjs > test/fixtures/embedded/heldout_tokens.txt
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { Tokenizer } from '@huggingface/tokenizers';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const target = Number(arg('--tokens', '32768'));
const perDoc = 1024;
const modelDir = new URL('../localmoe-code-tiny/', import.meta.url);

const tokenizer = new Tokenizer(
  JSON.parse(readFileSync(new URL('tokenizer.json', modelDir), 'utf8')),
  JSON.parse(readFileSync(new URL('tokenizer_config.json', modelDir), 'utf8')),
);
const text = readFileSync(0, 'utf8');
const docs = text.split('\x1e');
if (docs.length < 2) throw new Error('stdin is not the held-out corpus (documents joined by \\x1e)');
const stride = 7;
const ids = [];
let used = 0;
for (let k = 0; k < docs.length && ids.length < target; ++k) {
  const doc = docs[(k * stride) % docs.length];
  const t = [1, ...tokenizer.encode(doc, { add_special_tokens: false }).ids, 2].slice(0, perDoc);
  ids.push(...t.slice(0, target - ids.length));
  ++used;
}
const sha = createHash('sha1').update(text).digest('hex');
const lines = [
  `# Held-out tokens of localmoe-code-tiny's corpus (never trained on): ${ids.length} ids from ${used} of ${docs.length} held-out documents.`,
  `# Made by models/scripts/heldout_tokens.mjs from .corpus/heldout_code.txt.xz (decompressed sha1 ${sha}).`,
  `# Format: whitespace-separated token ids; each document is [1] + ids + [2], cut at ${perDoc} tokens.`,
];
for (let i = 0; i < ids.length; i += 32) lines.push(ids.slice(i, i + 32).join(' '));
process.stdout.write(lines.join('\n') + '\n');
