// The model's tokenizer: tokenizer.json + tokenizer_config.json from the model folder, run by
// @huggingface/tokenizers (pure JS; the engine only sees ids).
import { Tokenizer } from '@huggingface/tokenizers';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { IncrementalEncoder, type NewlineSplit } from './incremental-encoder';
import { NEWLINE_PIECE, newlineBoundaryProblem } from './tokenizer-locality';

/** The fields of tokenizer_config.json we use (the file has many more). */
export interface TokenizerConfig {
  add_bos_token?: boolean;
  add_eos_token?: boolean;
  bos_token?: string | { content: string } | null;
  eos_token?: string | { content: string } | null;
  chat_template?: string | { name: string; template: string }[] | null;
  [key: string]: unknown;
}

function tokenText(token: TokenizerConfig['bos_token']): string | undefined {
  if (token === null || token === undefined) return undefined;
  return typeof token === 'string' ? token : token.content;
}

function readJson(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new Error(
      `${what} not found at ${file}: the model folder needs the Hugging Face tokenizer files`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(
      `${what} at ${file} is not valid JSON (${(err as Error).message}): re-download the model`,
    );
  }
}

export class ModelTokenizer {
  readonly bosTokenId: number | undefined;
  readonly eosTokenId: number | undefined;
  readonly bosToken: string;
  readonly eosToken: string;
  /** Whether prompts start with BOS (tokenizer_config add_bos_token; Llama/Mistral: true). */
  readonly addBos: boolean;
  /** Number of ids the tokenizer can produce (max id + 1). */
  readonly vocabSize: number;
  /** Set when a newline is a hard tokenization boundary (incremental prompts); else the reason not. */
  readonly newlineSplit: NewlineSplit | undefined;
  readonly newlineSplitProblem: string | undefined;

  private constructor(
    private readonly tokenizer: Tokenizer,
    readonly config: TokenizerConfig,
    boundaryProblem: string | undefined,
  ) {
    this.bosToken = tokenText(config.bos_token) ?? '';
    this.eosToken = tokenText(config.eos_token) ?? '';
    this.bosTokenId = this.bosToken ? tokenizer.token_to_id(this.bosToken) : undefined;
    this.eosTokenId = this.eosToken ? tokenizer.token_to_id(this.eosToken) : undefined;
    this.addBos = config.add_bos_token ?? this.bosTokenId !== undefined;
    let maxId = -1;
    for (const id of tokenizer.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    // The static check says a newline is a boundary; the probe gives its ids (and double-checks).
    const newlineId = tokenizer.token_to_id(NEWLINE_PIECE);
    const lead = this.rawEncode('\n');
    this.newlineSplitProblem =
      boundaryProblem ??
      (newlineId === undefined || lead.at(-1) !== newlineId || lead.length > 2
        ? `'\\n' tokenizes as [${lead.join(', ')}], not as (a prefix and) ${NEWLINE_PIECE}`
        : undefined);
    this.newlineSplit =
      this.newlineSplitProblem === undefined && newlineId !== undefined
        ? { newlineId, lead }
        : undefined;
  }

  /** Loads `dir`/tokenizer.json and `dir`/tokenizer_config.json; errors name the file and the fix. */
  static load(dir: string): ModelTokenizer {
    const json = readJson(path.join(dir, 'tokenizer.json'), 'tokenizer.json');
    const config = readJson(
      path.join(dir, 'tokenizer_config.json'),
      'tokenizer_config.json',
    ) as TokenizerConfig;
    try {
      return new ModelTokenizer(
        new Tokenizer(json as object, config),
        config,
        newlineBoundaryProblem(json, config),
      );
    } catch (err) {
      throw new Error(
        `tokenizer.json in ${dir} could not be loaded (${(err as Error).message}): re-download the model`,
      );
    }
  }

  /**
   * Text to ids. `bos`: prepend BOS when the model wants it (a completion prompt); chat templates
   * write BOS into the text themselves, so they pass false. Special-token text such as "<s>" or
   * "[INST]" in `text` becomes its special id. `via`: an incrementalEncoder() of this tokenizer that
   * remembers the previous text of the same stream (same ids, less work).
   */
  encode(text: string, options: { bos: boolean; via?: IncrementalEncoder }): number[] {
    const ids = options.via ? options.via.encode(text) : this.rawEncode(text);
    return options.bos && this.addBos && this.bosTokenId !== undefined
      ? [this.bosTokenId, ...ids]
      : ids;
  }

  /** A fresh incremental encoder for one stream of similar texts (the completion prompts). */
  incrementalEncoder(): IncrementalEncoder {
    return new IncrementalEncoder((text) => this.rawEncode(text), this.newlineSplit);
  }

  private rawEncode(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /** Ids to text, special tokens skipped (used by the stream decoder on short windows). */
  decode(ids: readonly number[]): string {
    if (ids.length === 0) return ''; // @huggingface/tokenizers throws on an empty list
    return this.tokenizer.decode([...ids], { skip_special_tokens: true });
  }
}
