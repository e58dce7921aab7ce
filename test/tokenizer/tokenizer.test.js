// The embedded model's tokenizer files (models/localmoe-code-tiny/tokenizer.json and
// tokenizer_config.json), loaded the way the sidecar loads them (@huggingface/tokenizers), must
// behave exactly like Mixtral's tokenizer: checked against mistral-tokenizer-js, an independent
// implementation of the same vocabulary, on a 1.2 MB corpus of code, prose, unicode, emoji and
// whitespace (test/tokenizer/corpus.txt.gz, made by models/scripts/build_corpus.py), plus known ids.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const { Tokenizer } = require('@huggingface/tokenizers');

const ROOT = path.resolve(__dirname, '..', '..');
const MODEL_DIR = path.join(ROOT, 'models', 'localmoe-code-tiny');
const SPECIALS = new Map([
  ['<unk>', 0],
  ['<s>', 1],
  ['</s>', 2],
]);
const SPECIAL_RE = /(<unk>|<s>|<\/s>)/;

// Mixtral-8x7B-Instruct-v0.1's chat template as published (tokenizer_config.json, rev 1e637f2d).
const MIXTRAL_CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}" +
  "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}" +
  "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

function loadCorpus() {
  const raw = zlib
    .gunzipSync(fs.readFileSync(path.join(__dirname, 'corpus.txt.gz')))
    .toString('utf8');
  return { bytes: Buffer.byteLength(raw), chunks: raw.split('\x1e') };
}

/** Splits long texts at line ends into pieces of about `size` characters (BPE cost grows with length). */
function pieces(text, size) {
  const out = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + size);
    if (end < text.length) {
      const nl = text.indexOf('\n', end);
      end = nl < 0 ? text.length : nl + 1;
    }
    out.push(text.slice(start, end));
    start = end;
  }
  return out;
}

describe('embedded model tokenizer', function () {
  this.timeout(60000);
  let hf;
  let mistral;
  let config;

  before(async function () {
    const tokenizerJson = JSON.parse(
      fs.readFileSync(path.join(MODEL_DIR, 'tokenizer.json'), 'utf8'),
    );
    config = JSON.parse(fs.readFileSync(path.join(MODEL_DIR, 'tokenizer_config.json'), 'utf8'));
    hf = new Tokenizer(tokenizerJson, config);
    mistral = (await import('mistral-tokenizer-js')).default;
  });

  /** Mixtral's ids for `text` from the reference: special-token literals map to their ids, every
   *  other segment is encoded with the SentencePiece leading space (as HF's Prepend normalizer does). */
  function referenceIds(text, bos) {
    const ids = bos ? [1] : [];
    for (const seg of text.split(SPECIAL_RE)) {
      if (seg === '') continue;
      if (SPECIALS.has(seg)) ids.push(SPECIALS.get(seg));
      else ids.push(...mistral.encode(seg, false, true));
    }
    return ids;
  }

  it('has the Llama/Mistral vocabulary and special tokens', function () {
    const vocab = JSON.parse(fs.readFileSync(path.join(MODEL_DIR, 'tokenizer.json'), 'utf8')).model;
    assert.equal(Object.keys(vocab.vocab).length, 32000);
    assert.equal(vocab.byte_fallback, true);
    assert.equal(hf.token_to_id('<unk>'), 0);
    assert.equal(hf.token_to_id('<s>'), 1);
    assert.equal(hf.token_to_id('</s>'), 2);
    assert.equal(config.bos_token, '<s>');
    assert.equal(config.eos_token, '</s>');
    assert.equal(config.unk_token, '<unk>');
    assert.equal(config.add_bos_token, true);
    assert.equal(config.add_eos_token, false);
  });

  it('carries Mixtral-8x7B-Instruct chat template exactly', function () {
    assert.equal(config.chat_template, MIXTRAL_CHAT_TEMPLATE);
  });

  it('renders the chat template like Mixtral-Instruct and rejects non-alternating roles', async function () {
    const { Template } = await import('@huggingface/jinja');
    const template = new Template(config.chat_template);
    const render = (messages) => template.render({ messages, bos_token: '<s>', eos_token: '</s>' });
    const text = render([
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello' },
      { role: 'user', content: 'Bye' },
    ]);
    assert.equal(text, '<s>[INST] Hi [/INST]Hello</s>[INST] Bye [/INST]');
    assert.deepEqual(
      hf.encode(text, { add_special_tokens: false }).ids.slice(0, 4),
      [1, 733, 16289, 28793],
    );
    assert.throws(
      () =>
        render([
          { role: 'user', content: 'a' },
          { role: 'user', content: 'b' },
        ]),
      /must alternate/,
    );
    assert.throws(
      () => render([{ role: 'system', content: 'a' }]),
      /must alternate|Only user and assistant/,
    );
  });

  it('gives the known Mixtral ids', function () {
    assert.deepEqual(
      hf.encode('def fibonacci(n):').ids,
      [1, 801, 16182, 266, 28127, 28732, 28711, 1329],
    );
    assert.deepEqual(hf.encode('Hello world!').ids, [1, 22557, 1526, 28808]);
    // "[INST]" is "▁[" "INST" "]" and "[/INST]" is "▁[" "/" "INST" "]" in Mixtral's vocabulary.
    assert.deepEqual(
      hf.encode('<s>[INST] Hello [/INST]', { add_special_tokens: false }).ids,
      [1, 733, 16289, 28793, 22557, 733, 28748, 16289, 28793],
    );
    assert.deepEqual(
      hf.decode([1, 801, 16182, 266, 28127, 28732, 28711, 1329], { skip_special_tokens: true }),
      'def fibonacci(n):',
    );
  });

  it('matches mistral-tokenizer-js and round-trips on a >1 MB varied corpus', function () {
    const { bytes, chunks } = loadCorpus();
    assert.ok(bytes >= 1_000_000, `corpus is ${bytes} bytes`);
    let n = 0;
    let tokens = 0;
    let withSpecials = 0;
    for (const chunk of chunks) {
      for (const text of pieces(chunk, 2000)) {
        const ids = hf.encode(text, { add_special_tokens: true }).ids;
        const ref = referenceIds(text, true);
        if (ids.length !== ref.length || ids.some((v, i) => v !== ref[i])) {
          const i = ids.findIndex((v, k) => v !== ref[k]);
          assert.fail(
            `ids differ at token ${i} for text ${JSON.stringify(text.slice(0, 200))}: ` +
              `hf ${JSON.stringify(ids.slice(Math.max(0, i - 3), i + 5))} ref ${JSON.stringify(ref.slice(Math.max(0, i - 3), i + 5))}`,
          );
        }
        if (SPECIAL_RE.test(text)) {
          // Decoding puts SentencePiece's leading space back after each special token.
          withSpecials++;
          const expected = text.replace(/(<unk>|<s>|<\/s>)(?=.)(?!<unk>|<s>|<\/s>)/gs, '$1 ');
          assert.equal(hf.decode(ids.slice(1), { skip_special_tokens: false }), expected);
        } else {
          assert.equal(hf.decode(ids, { skip_special_tokens: true }), text);
          assert.equal(mistral.decode(ref), text);
        }
        n++;
        tokens += ids.length;
      }
    }
    console.log(
      `      ${(bytes / 1e6).toFixed(2)} MB, ${n} texts, ${tokens} tokens, ${withSpecials} with special-token literals: identical`,
    );
  });
});
