import * as assert from 'node:assert/strict';
import {
  buildCompletionPrompt,
  fitPrompt,
  lineComment,
  MIN_SUFFIX_STOP_LENGTH,
  suffixStops,
} from '../../src/sidecar/completion-prompt';

/** One "token" per character, plus a BOS id: enough to check budgets exactly. */
const charEncode = (text: string) => [1, ...Array.from(text, (c) => c.charCodeAt(0))];
const charDecode = (ids: number[]) => String.fromCharCode(...ids.slice(1));

describe('completion prompt', () => {
  it('writes file name and language as comments of the language, then the prefix', () => {
    const p = buildCompletionPrompt({
      prefix: 'def f(',
      suffix: '',
      languageId: 'python',
      fileName: 'src/a.py',
    });
    assert.equal(p.header + p.body, '# File: src/a.py\n# Language: python\ndef f(');
    const ts = buildCompletionPrompt({ prefix: 'x', suffix: '', languageId: 'typescript' });
    assert.equal(ts.header, '// Language: typescript\n');
  });

  it('keeps header lines on one line whatever the client sends', () => {
    const p = buildCompletionPrompt({
      prefix: '',
      suffix: '',
      languageId: 'c',
      fileName: 'a\nb.c',
    });
    assert.equal(p.header.split('\n').length, 3);
  });

  it('uses the comment syntax of the language', () => {
    assert.equal(lineComment('sql', 't'), '-- t');
    assert.equal(lineComment('html', 't'), '<!-- t -->');
    assert.equal(lineComment('unknown-lang', 't'), '// t');
  });

  it('never puts the suffix in the prompt; its first distinctive line becomes a stop', () => {
    const p = buildCompletionPrompt({
      prefix: 'a',
      suffix: '\n   return total_price;\n}',
      languageId: 'c',
    });
    assert.ok(!(p.header + p.body).includes('total_price'));
    assert.deepEqual(p.stops, ['return total_price;']);
    assert.deepEqual(suffixStops('\n}\n'), [], 'short lines are too common to stop on');
    assert.deepEqual(suffixStops('x'.repeat(MIN_SUFFIX_STOP_LENGTH)), [
      'x'.repeat(MIN_SUFFIX_STOP_LENGTH),
    ]);
  });

  it('fits the budget by dropping whole lines from the start of the prefix, keeping the header', () => {
    const body = Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n');
    const prompt = buildCompletionPrompt({
      prefix: body,
      suffix: '',
      languageId: 'c',
      fileName: 'f.c',
    });
    const ids = fitPrompt(charEncode, prompt, 120);
    assert.ok(ids.length <= 120, `${ids.length} tokens`);
    const text = charDecode(ids);
    assert.ok(text.startsWith(prompt.header), 'header kept');
    assert.ok(text.endsWith('line 49'), 'text nearest the cursor kept');
    const kept = text.slice(prompt.header.length);
    assert.match(kept, /^line \d+\n/, 'cut at a line start');
  });

  it('returns the prompt unchanged when it fits', () => {
    const prompt = buildCompletionPrompt({ prefix: 'abc', suffix: '', languageId: 'c' });
    assert.deepEqual(fitPrompt(charEncode, prompt, 1000), charEncode(prompt.header + 'abc'));
  });
});
