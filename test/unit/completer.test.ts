import * as assert from 'node:assert/strict';
import { InlineCompleter, type CompletionBackend } from '../../src/completion/completer';
import type { CompletionContext } from '../../src/completion/context';
import { DEFAULT_CONFIG } from '../../src/config/schema';
import type { CompleteParams, GenerationResult } from '../../src/protocol';
import type { CancelSignal } from '../../src/util/cancel';
import { MemoryLogger } from '../../src/util/logger';
import { manualSignal } from './helpers';

const result = (
  text: string,
  finishReason: GenerationResult['finishReason'] = 'stop',
): GenerationResult => ({
  text,
  finishReason,
  promptTokens: 1,
  completionTokens: 1,
  ttftMs: 1,
  tokensPerSecond: 1,
});

class FakeBackend implements CompletionBackend {
  ready = true;
  calls: CompleteParams[] = [];
  signals: CancelSignal[] = [];
  delayMs = 0;
  answer: (p: CompleteParams) => GenerationResult = () => result('foo(1)');
  isReady(): boolean {
    return this.ready;
  }
  async complete(params: CompleteParams, signal: CancelSignal): Promise<GenerationResult> {
    this.calls.push(params);
    this.signals.push(signal);
    if (this.delayMs) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, this.delayMs);
        signal.onCancellationRequested(() => {
          clearTimeout(t);
          reject(new Error('cancelled'));
        });
      });
    }
    return this.answer(params);
  }
}

function ctx(prefix: string, suffix = '\n'): CompletionContext {
  const linePrefix = prefix.slice(prefix.lastIndexOf('\n') + 1);
  return { prefix, suffix, prefixStart: 0, linePrefix, lineSuffix: suffix.split('\n')[0] };
}

function setup(over: Partial<typeof DEFAULT_CONFIG.completion> = {}) {
  const backend = new FakeBackend();
  const log = new MemoryLogger();
  const config = { ...DEFAULT_CONFIG.completion, debounceMs: 0, ...over };
  const completer = new InlineCompleter(backend, () => config, log);
  return { backend, log, completer };
}

const never = () => manualSignal();

describe('inline completer', () => {
  it('asks the engine once, then answers from the cache, logging each exit reason', async () => {
    const { backend, log, completer } = setup();
    const a = await completer.complete({ context: ctx('x = '), languageId: 'python' }, never());
    assert.deepEqual([a.text, a.reason], ['foo(1)', 'suggestion']);
    const b = await completer.complete({ context: ctx('x = '), languageId: 'python' }, never());
    assert.deepEqual(b, { text: 'foo(1)', reason: 'cache-hit' });
    const c = await completer.complete({ context: ctx('x = fo'), languageId: 'python' }, never());
    assert.deepEqual(c, { text: 'o(1)', reason: 'typed-through' });
    assert.equal(backend.calls.length, 1);
    assert.deepEqual(
      log.lines.map((l) => l.replace(/ \(.*\)$/, '')),
      [
        'trace completion exit: suggestion',
        'trace completion exit: cache-hit',
        'trace completion exit: typed-through',
      ],
    );
  });

  it('sends budgets, a single-line stop and temperature 0 for a mid-line cursor', async () => {
    const { backend, completer } = setup({ maxTokens: 100, timeBudgetMs: 777 });
    await completer.complete(
      { context: ctx('x = '), languageId: 'python', fileName: 'a.py' },
      never(),
    );
    const p = backend.calls[0];
    assert.equal(p.timeBudgetMs, 777);
    assert.ok(p.maxTokens <= 100);
    assert.deepEqual(p.stop, ['\n']);
    assert.equal(p.temperature, 0);
    assert.equal(p.fileName, 'a.py');
  });

  it('respects per-language enablement', async () => {
    const { backend, completer } = setup({ languages: { '*': true, markdown: false } });
    const r = await completer.complete(
      { context: ctx('# Title '), languageId: 'markdown' },
      never(),
    );
    assert.equal(r.reason, 'disabled-language');
    assert.equal(backend.calls.length, 0);
  });

  it('does not call the engine when cancelled during the debounce', async () => {
    const { backend, completer } = setup({ debounceMs: 50 });
    const s = manualSignal();
    const p = completer.complete({ context: ctx('x = '), languageId: 'python' }, s);
    setTimeout(() => s.cancel(), 5);
    assert.equal((await p).reason, 'cancelled-during-debounce');
    assert.equal(backend.calls.length, 0);
  });

  it('returns at once when the engine is not ready', async () => {
    const { backend, completer } = setup();
    backend.ready = false;
    assert.equal(
      (await completer.complete({ context: ctx('x = '), languageId: 'python' }, never())).reason,
      'engine-not-ready',
    );
  });

  it('keeps one request in flight: a newer request cancels the older one', async () => {
    const { backend, completer } = setup();
    backend.delayMs = 50;
    const first = completer.complete({ context: ctx('x = '), languageId: 'python' }, never());
    await new Promise((r) => setTimeout(r, 5));
    const second = completer.complete({ context: ctx('x = 1'), languageId: 'python' }, never());
    assert.equal((await first).reason, 'cancelled-in-flight');
    assert.equal(backend.signals[0].isCancellationRequested, true);
    assert.equal((await second).reason, 'suggestion');
  });

  it('names engine errors and post-processing discards', async () => {
    const { backend, completer } = setup();
    backend.answer = () => {
      throw new Error('boom');
    };
    assert.equal(
      (await completer.complete({ context: ctx('a'), languageId: 'c' }, never())).reason,
      'engine-error',
    );
    backend.answer = () => result('');
    assert.equal(
      (await completer.complete({ context: ctx('b'), languageId: 'c' }, never())).reason,
      'engine-empty',
    );
    backend.answer = () => result('return x', 'stop');
    const r = await completer.complete(
      { context: ctx('c', 'return x;\n'), languageId: 'c' },
      never(),
    );
    assert.equal(r.reason, 'repeats-suffix');
  });

  it('caches a result that arrives after the editor cancelled', async () => {
    const { backend, completer } = setup();
    backend.answer = () => {
      s.cancel();
      return result('bar()');
    };
    const s = manualSignal();
    // The backend ignores the signal here (the answer arrived anyway): we still keep it.
    const r = await completer.complete({ context: ctx('y = '), languageId: 'js' }, s);
    assert.equal(r.reason, 'cancelled-after-response');
    assert.equal(
      (await completer.complete({ context: ctx('y = '), languageId: 'js' }, never())).text,
      'bar()',
    );
  });

  describe('round-trip timing (issue #10)', () => {
    /** A clock the test moves by hand; the backend moves it as a sidecar + engine would. */
    function timed(
      engineMs: number | undefined,
      over: Partial<typeof DEFAULT_CONFIG.completion> = {},
    ) {
      let clock = 100;
      const backend = new FakeBackend();
      const log = new MemoryLogger();
      const config = { ...DEFAULT_CONFIG.completion, debounceMs: 0, ...over };
      const completer = new InlineCompleter(
        backend,
        () => config,
        log,
        () => clock,
      );
      backend.answer = () => {
        clock += 3 + (engineMs ?? 20) + 2; // IPC + tokenization, the engine, stream decoding + IPC back
        return { ...result('foo(1)'), ttftMs: 12, completionTokens: 9, engineMs };
      };
      const advance = (ms: number) => (clock += ms);
      return { backend, log, completer, advance };
    }

    it('round trip minus the engine time is the editor overhead, logged per completion', async () => {
      const { log, completer, advance } = timed(35);
      const out = await completer.complete({ context: ctx('x = '), languageId: 'python' }, never());
      advance(1); // the provider building its item
      completer.delivered(out);
      const s = completer.timings.summary();
      assert.equal(s.recorded, 1);
      assert.deepEqual(s.recent, [
        { roundTripMs: 41, engineMs: 35, ttftMs: 12, overheadMs: 6, completionTokens: 9 },
      ]);
      assert.equal(s.overheadP50Ms, 6);
      assert.ok(
        log.lines.includes(
          'debug completion: round trip 41.0 ms = engine 35.0 ms (ttft 12.0 ms, 9 tokens) + editor 6.0 ms',
        ),
        log.lines.join('\n'),
      );
    });

    it('starts after the debounce: the pause before the request is not overhead', async () => {
      const { completer, advance } = timed(35, { debounceMs: 30 });
      const pending = completer.complete({ context: ctx('x = '), languageId: 'python' }, never());
      setTimeout(() => advance(1000), 5); // "time" passing during the debounce
      const out = await pending;
      completer.delivered(out);
      assert.equal(completer.timings.summary().recent[0].roundTripMs, 40);
    });

    it('does not time cache hits, typed-through suggestions or cancelled requests', async () => {
      const { backend, completer } = timed(35);
      const first = await completer.complete(
        { context: ctx('x = '), languageId: 'python' },
        never(),
      );
      completer.delivered(first);
      for (const prefix of ['x = ', 'x = fo']) {
        const hit = await completer.complete(
          { context: ctx(prefix), languageId: 'python' },
          never(),
        );
        assert.equal(hit.engine, undefined, hit.reason);
        completer.delivered(hit);
      }
      // Cancelled after the engine answered: the editor shows nothing, so nothing is timed.
      const s = manualSignal();
      const answer = backend.answer;
      backend.answer = (p) => {
        s.cancel();
        return answer(p);
      };
      const late = await completer.complete({ context: ctx('y = '), languageId: 'js' }, s);
      assert.equal(late.reason, 'cancelled-after-response');
      completer.delivered(late);
      // Superseded while in flight.
      backend.answer = answer;
      backend.delayMs = 50;
      const older = completer.complete({ context: ctx('z = '), languageId: 'js' }, never());
      await new Promise((r) => setTimeout(r, 5));
      const newer = completer.complete({ context: ctx('z = 1'), languageId: 'js' }, never());
      const superseded = await older;
      assert.equal(superseded.reason, 'cancelled-in-flight');
      completer.delivered(superseded);
      await newer;
      assert.equal(completer.timings.summary().recorded, 1);
    });

    it('does not time answers without engine counters (remote mode)', async () => {
      const { log, completer } = timed(undefined);
      const out = await completer.complete({ context: ctx('x = '), languageId: 'python' }, never());
      assert.equal(out.reason, 'suggestion');
      completer.delivered(out);
      assert.equal(completer.timings.summary().recorded, 0);
      assert.ok(!log.lines.some((l) => l.includes('round trip')));
    });
  });
});
