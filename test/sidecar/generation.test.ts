import * as assert from 'node:assert/strict';
import type { GenerateOptions, GenerateResult } from '../../src/sidecar/addon-types';
import type { TokenGenerator } from '../../src/sidecar/engine';
import { runGeneration, type GenerationInput } from '../../src/sidecar/generation';

/**
 * Emits `tokens` one per `delayMs` like the addon does: on the JS thread, stopping at the next
 * token once the signal is aborted (the addon's cancel flag), reporting 'cancelled' then.
 */
class FakeEngine implements TokenGenerator {
  lastOptions: GenerateOptions | undefined;
  constructor(
    private readonly tokens: number[],
    private readonly delayMs = 0,
    private readonly endReason: GenerateResult['stopReason'] = 'max_tokens',
  ) {}
  async generate(
    options: GenerateOptions,
    onToken: (t: number) => void,
    signal: AbortSignal,
  ): Promise<GenerateResult> {
    this.lastOptions = options;
    const out: number[] = [];
    for (const t of this.tokens.slice(0, options.maxNewTokens)) {
      if (signal.aborted) return this.result(out, 'cancelled');
      if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
      out.push(t);
      onToken(t);
    }
    return this.result(out, out.length < options.maxNewTokens ? this.endReason : 'max_tokens');
  }
  private result(tokens: number[], stopReason: GenerateResult['stopReason']): GenerateResult {
    return {
      tokens,
      stopReason,
      promptTokens: 3,
      prefillMs: 12,
      decodeMs: tokens.length > 1 ? (tokens.length - 1) * 10 : 0,
    };
  }
}

/** Token i decodes to the i-th character of ALPHABET; 0 is EOS (decodes to nothing). */
const ALPHABET = '\0abcdefghij\n ';
const decode = (ids: readonly number[]) => ids.map((i) => (i === 0 ? '' : ALPHABET[i])).join('');
const ids = (text: string) => Array.from(text, (c) => ALPHABET.indexOf(c));

function input(engine: TokenGenerator, overrides: Partial<GenerationInput> = {}): GenerationInput {
  return {
    engine,
    decode,
    prompt: [1, 2, 3],
    decodeContext: [],
    sampling: { maxTokens: 100 },
    stops: [],
    signal: new AbortController().signal,
    ...overrides,
  };
}

describe('runGeneration', () => {
  it('streams deltas that concatenate to the final text, with engine figures', async () => {
    const deltas: string[] = [];
    const r = await runGeneration(
      input(new FakeEngine(ids('abc def')), { onDelta: (d) => deltas.push(d) }),
    );
    assert.equal(r.text, 'abc def');
    assert.equal(deltas.join(''), r.text);
    assert.equal(r.finishReason, 'length');
    assert.equal(r.completionTokens, 7);
    assert.equal(r.promptTokens, 3);
    assert.equal(r.ttftMs, 12);
    assert.equal(r.tokensPerSecond, 100); // 6 decode tokens in 60 ms
  });

  it('maps an engine stop token to finishReason stop', async () => {
    const r = await runGeneration(
      input(new FakeEngine([...ids('ab'), 0], 0, 'stop_token'), { sampling: { maxTokens: 10 } }),
    );
    assert.equal(r.text, 'ab');
    assert.equal(r.finishReason, 'stop');
  });

  it('stops at a text stop sequence and cancels the engine', async () => {
    const engine = new FakeEngine(ids('abc\n\ndef ghij'), 1);
    const r = await runGeneration(input(engine, { stops: ['\n\n'] }));
    assert.equal(r.text, 'abc');
    assert.equal(r.finishReason, 'stop');
    assert.ok(
      r.completionTokens <= 6,
      `engine stopped within a token of the stop (${r.completionTokens} tokens)`,
    );
  });

  it('client cancel mid-stream gives finishReason cancelled and partial text', async () => {
    const controller = new AbortController();
    let seen = 0;
    const r = await runGeneration(
      input(new FakeEngine(ids('abcdefghij'.repeat(5)), 1), {
        signal: controller.signal,
        onToken: () => {
          if (++seen === 5) controller.abort('client');
        },
      }),
    );
    assert.equal(r.finishReason, 'cancelled');
    assert.equal(r.text, 'abcde');
  });

  it('time budget gives finishReason time', async () => {
    const r = await runGeneration(
      input(new FakeEngine(ids('abcdefghij'.repeat(20)), 5), {
        sampling: { maxTokens: 200, timeBudgetMs: 30 },
      }),
    );
    assert.equal(r.finishReason, 'time');
    assert.ok(r.completionTokens < 200);
  });

  it('clamps maxTokens and passes sampling options through', async () => {
    const engine = new FakeEngine(ids('ab'));
    await runGeneration(
      input(engine, { sampling: { maxTokens: 1e9, temperature: 0.5, topP: 0.9, seed: 7 } }),
    );
    assert.equal(engine.lastOptions?.maxNewTokens, 8192);
    assert.equal(engine.lastOptions?.temperature, 0.5);
    assert.equal(engine.lastOptions?.topP, 0.9);
    assert.equal(engine.lastOptions?.seed, 7);
  });
});
