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
      reusedTokens: 0,
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
    assert.equal(r.engineMs, 12 + 60, 'engine time = prefill + decode');
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

/**
 * A deterministic "model": the next token is a function of the whole sequence so far (prompt +
 * generated), as with greedy decoding. A resumed run continues exactly like an unbroken one only
 * when it is given prompt + every token generated so far, and the remaining budget.
 */
class SequenceEngine implements TokenGenerator {
  readonly calls: GenerateOptions[] = [];
  /** Called after each token with the number of tokens emitted in this call. */
  afterToken: (n: number) => void = () => undefined;
  constructor(private readonly eosAt = -1) {}
  static next(seq: readonly number[]): number {
    const tail = seq.slice(-3).reduce((a, b) => a + b, 0);
    return 1 + ((tail * 7 + seq.length) % 12); // 'a'..'j', '\n', ' '
  }
  async generate(
    options: GenerateOptions,
    onToken: (t: number) => void,
    signal: AbortSignal,
  ): Promise<GenerateResult> {
    this.calls.push(options);
    const seq = [...options.prompt];
    const out: number[] = [];
    let stopReason: GenerateResult['stopReason'] = 'max_tokens';
    while (out.length < options.maxNewTokens) {
      if (signal.aborted) {
        stopReason = 'cancelled';
        break;
      }
      await new Promise((r) => setImmediate(r));
      const t = seq.length === this.eosAt ? 0 : SequenceEngine.next(seq);
      seq.push(t);
      out.push(t);
      onToken(t);
      this.afterToken(out.length);
      if (t === 0) {
        stopReason = 'stop_token';
        break;
      }
    }
    return {
      tokens: out,
      stopReason,
      promptTokens: options.prompt.length,
      reusedTokens: 0,
      prefillMs: 5 + this.calls.length,
      decodeMs: out.length > 1 ? (out.length - 1) * 10 : 0,
    };
  }
}

/** A scheduler turn driven by the test: preempt() fires the signal; pause() resolves on resume(). */
class FakeTurn {
  private controller = new AbortController();
  pauses = 0;
  private wake: (() => void) | undefined;
  get preempt(): AbortSignal {
    return this.controller.signal;
  }
  preemptNow(): void {
    this.controller.abort('preempt');
  }
  pause = (): Promise<void> => {
    this.pauses++;
    return new Promise((resolve) => {
      this.wake = () => {
        this.controller = new AbortController();
        resolve();
      };
      setImmediate(() => this.wake?.()); // the completion ran; the engine is ours again
    });
  };
}

describe('runGeneration under preemption', () => {
  const run = async (engine: SequenceEngine, overrides: Partial<GenerationInput> = {}) => {
    const deltas: string[] = [];
    const r = await runGeneration(
      input(engine, { sampling: { maxTokens: 30 }, onDelta: (d) => deltas.push(d), ...overrides }),
    );
    assert.equal(deltas.join(''), r.text, 'the stream is the text, without duplicates or gaps');
    return r;
  };

  it('resumes with prompt + tokens so far and the rest of the budget: same text as unbroken', async () => {
    const unbroken = await run(new SequenceEngine());
    const engine = new SequenceEngine();
    const turn = new FakeTurn();
    engine.afterToken = (n) => {
      if (engine.calls.length <= 2 && n === 7) turn.preemptNow(); // preempted twice
    };
    const r = await run(engine, { turn, kvSlot: 1 });
    assert.equal(turn.pauses, 2);
    assert.equal(engine.calls.length, 3);
    assert.equal(r.text, unbroken.text);
    assert.equal(r.completionTokens, 30);
    assert.equal(r.finishReason, 'length');
    assert.equal(r.promptTokens, 3);
    assert.equal(r.ttftMs, 6, 'time to first token is the first run that produced one');
    // Engine time counts every run: prefills 6 + 7 + 8 ms, decodes (6 + 6 + 15) tokens x 10 ms.
    assert.equal(r.engineMs, 6 + 7 + 8 + 270);
    // Each run continues the last: its prompt is the request's prompt + everything before it.
    assert.deepEqual(engine.calls[1].prompt.slice(0, 3), [1, 2, 3]);
    assert.equal(engine.calls[1].prompt.length, 3 + 7);
    assert.equal(engine.calls[2].prompt.length, 3 + 14);
    assert.deepEqual(
      engine.calls.map((c) => c.maxNewTokens),
      [30, 23, 16],
    );
    assert.deepEqual(
      engine.calls.map((c) => c.kvSlot),
      [1, 1, 1],
    );
  });

  it('a stop sequence split by the seam still stops', async () => {
    const unbroken = await run(new SequenceEngine());
    const at = unbroken.text.indexOf('\n', 2);
    assert.ok(
      at > 1 && at < 28,
      `the sequence has a newline to stop at (${JSON.stringify(unbroken.text)})`,
    );
    const stop = unbroken.text.slice(at - 1, at + 1); // two characters, one each side of the seam
    const engine = new SequenceEngine();
    const turn = new FakeTurn();
    engine.afterToken = (n) => {
      if (engine.calls.length === 1 && n === at) turn.preemptNow(); // seam after the first char
    };
    const r = await run(engine, { turn, stops: [stop] });
    assert.equal(turn.pauses, 1);
    assert.equal(r.finishReason, 'stop');
    assert.equal(r.text, unbroken.text.slice(0, at - 1));
  });

  it('preempted during prefill (no token yet): resumes with the same prompt; TTFT adds both prefills', async () => {
    const unbroken = await run(new SequenceEngine());
    const engine = new SequenceEngine();
    const turn = new FakeTurn();
    turn.preemptNow(); // the completion arrived before the chat's first token
    const r = await run(engine, { turn });
    assert.equal(turn.pauses, 1);
    assert.equal(engine.calls.length, 1, 'paused before reaching the engine');
    assert.equal(r.text, unbroken.text);
    const engine2 = new SequenceEngine();
    const turn2 = new FakeTurn();
    const realGenerate = engine2.generate.bind(engine2);
    let first = true;
    engine2.generate = (options, onToken, signal) => {
      if (first) {
        first = false;
        turn2.preemptNow(); // arrives while the engine prefills: it returns no token, cancelled
        return Promise.resolve({
          tokens: [],
          stopReason: 'cancelled',
          promptTokens: options.prompt.length,
          reusedTokens: 0,
          prefillMs: 40,
          decodeMs: 0,
        });
      }
      return realGenerate(options, onToken, signal);
    };
    const r2 = await run(engine2, { turn: turn2 });
    assert.equal(turn2.pauses, 1);
    assert.equal(r2.text, unbroken.text);
    assert.deepEqual(engine2.calls[0].prompt, [1, 2, 3], 'resumed with the same prompt');
    assert.equal(r2.ttftMs, 40 + 6);
  });

  it('an engine stop token ends it; a preemption arriving with the last token does not resume', async () => {
    const engine = new SequenceEngine(3 + 5); // EOS as the 6th token
    const turn = new FakeTurn();
    engine.afterToken = (n) => {
      if (n === 6) turn.preemptNow();
    };
    const r = await run(engine, { turn });
    assert.equal(r.finishReason, 'stop');
    assert.equal(r.completionTokens, 6);
    assert.equal(engine.calls.length, 1);
  });

  it('cancelled while paused: partial text, finishReason cancelled, no further engine run', async () => {
    const engine = new SequenceEngine();
    const controller = new AbortController();
    const turn = new FakeTurn();
    turn.pause = () => {
      controller.abort('client'); // the client gives up while the completion runs
      return Promise.resolve();
    };
    engine.afterToken = (n) => {
      if (n === 4) turn.preemptNow();
    };
    const r = await run(engine, { turn, signal: controller.signal });
    assert.equal(engine.calls.length, 1);
    assert.equal(r.finishReason, 'cancelled');
    assert.equal(r.completionTokens, 4);
  });

  it('a request cancelled before it starts never reaches the engine', async () => {
    const engine = new SequenceEngine();
    const controller = new AbortController();
    controller.abort('superseded');
    const r = await run(engine, { signal: controller.signal });
    assert.equal(engine.calls.length, 0);
    assert.equal(r.finishReason, 'cancelled');
    assert.equal(r.text, '');
  });
});
