import * as assert from 'node:assert/strict';
import { extractContext, windowAfter, windowBefore } from '../../src/completion/context';

const opts = { maxPrefixChars: 400, maxSuffixChars: 100 };
const lines = Array.from({ length: 100 }, (_, i) => `line ${String(i).padStart(3, '0')} abc`); // 17 chars + \n
const doc = lines.join('\n');

describe('completion context', () => {
  it('takes everything when the document is small', () => {
    const text = 'def f(x):\n    return x\n';
    const ctx = extractContext({ text, start: 0 }, 14, opts);
    assert.equal(ctx.prefix, 'def f(x):\n    ');
    assert.equal(ctx.suffix, 'return x\n');
    assert.equal(ctx.linePrefix, '    ');
    assert.equal(ctx.lineSuffix, 'return x');
    assert.equal(ctx.prefixStart, 0);
  });

  it('keeps the prefix within budget and starting at a line start', () => {
    const cursor = doc.indexOf('line 080') + 5;
    const ctx = extractContext({ text: doc, start: 0 }, cursor, opts);
    assert.ok(ctx.prefix.length <= opts.maxPrefixChars);
    assert.ok(ctx.prefix.length > opts.maxPrefixChars / 2, 'uses most of the budget');
    assert.ok(ctx.prefix.startsWith('line '), ctx.prefix.slice(0, 20));
    assert.equal(doc[ctx.prefixStart - 1], '\n');
  });

  it('keeps the prefix start stable while the user types', () => {
    let text = doc;
    let cursor = doc.indexOf('line 080') + 5;
    const first = extractContext({ text, start: 0 }, cursor, opts).prefixStart;
    const starts = new Set<number>();
    for (const ch of 'foo(bar)') {
      text = text.slice(0, cursor) + ch + text.slice(cursor);
      cursor++;
      starts.add(extractContext({ text, start: 0 }, cursor, opts).prefixStart);
    }
    assert.deepEqual([...starts], [first]);
  });

  it('gives the same result from a window as from the whole document', () => {
    const cursor = doc.indexOf('line 050') + 3;
    const from = cursor - windowBefore(opts);
    const win = { text: doc.slice(from, cursor + windowAfter(opts)), start: from };
    assert.deepEqual(
      extractContext(win, cursor, opts),
      extractContext({ text: doc, start: 0 }, cursor, opts),
    );
  });

  it('ends the suffix after a whole line within budget', () => {
    const cursor = doc.indexOf('line 050');
    const ctx = extractContext({ text: doc, start: 0 }, cursor, opts);
    assert.ok(ctx.suffix.length <= opts.maxSuffixChars);
    assert.ok(ctx.suffix.endsWith('\n'));
  });

  it('rejects a cursor outside the window', () => {
    assert.throws(() => extractContext({ text: 'abc', start: 10 }, 2, opts), RangeError);
  });
});
