import * as assert from 'node:assert/strict';
import {
  TimingWindow,
  formatTiming,
  percentile,
  timingOf,
  type CompletionTiming,
} from '../../src/completion/timing';
import type { GenerationResult } from '../../src/protocol';

const result = (engineMs: number | undefined, ttftMs = 5): GenerationResult => ({
  text: 'x',
  finishReason: 'stop',
  promptTokens: 10,
  completionTokens: 4,
  ttftMs,
  tokensPerSecond: 100,
  engineMs,
});

const timing = (overheadMs: number): CompletionTiming => ({
  roundTripMs: 30 + overheadMs,
  engineMs: 30,
  ttftMs: 10,
  overheadMs,
  completionTokens: 3,
});

describe('completion timing', () => {
  it('splits a round trip into engine time and editor overhead', () => {
    assert.deepEqual(timingOf(1000, 1047.5, result(40, 12)), {
      roundTripMs: 47.5,
      engineMs: 40,
      ttftMs: 12,
      overheadMs: 7.5,
      completionTokens: 4,
    });
  });

  it('has no split without engine counters', () => {
    assert.equal(timingOf(0, 50, result(undefined)), undefined);
  });

  it('keeps a negative overhead visible (engine time larger than the round trip is a bug)', () => {
    assert.equal(timingOf(0, 10, result(12))?.overheadMs, -2);
  });

  it('formats the log line', () => {
    assert.equal(
      formatTiming(timing(6)),
      'completion: round trip 36.0 ms = engine 30.0 ms (ttft 10.0 ms, 3 tokens) + editor 6.0 ms',
    );
  });

  it('nearest-rank percentiles', () => {
    assert.equal(percentile([], 50), null);
    assert.equal(percentile([7], 90), 7);
    const ten = [10, 1, 9, 2, 8, 3, 7, 4, 6, 5];
    assert.equal(percentile(ten, 50), 5);
    assert.equal(percentile(ten, 90), 9);
    assert.equal(percentile(ten, 100), 10);
    assert.equal(percentile(ten, 0), 1);
    assert.equal(percentile([4, 1, 3, 2], 50), 2);
  });

  it('keeps the last N timings and summarises those, counting all', () => {
    const w = new TimingWindow(3);
    const empty = w.summary();
    assert.deepEqual(
      [empty.recorded, empty.overheadP50Ms, empty.overheadP90Ms, empty.roundTripP50Ms],
      [0, null, null, null],
    );
    for (const o of [100, 1, 2, 3]) w.add(timing(o));
    const s = w.summary();
    assert.equal(s.recorded, 4);
    assert.deepEqual(
      s.recent.map((t) => t.overheadMs),
      [1, 2, 3],
      'the oldest fell out of the window',
    );
    assert.equal(s.overheadP50Ms, 2);
    assert.equal(s.overheadP90Ms, 3);
    assert.equal(s.roundTripP50Ms, 32);
    s.recent.pop();
    assert.equal(w.summary().recent.length, 3, 'the summary is a copy');
  });
});
