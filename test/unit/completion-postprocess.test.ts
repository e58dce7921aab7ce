import * as assert from 'node:assert/strict';
import {
  allowMultiline,
  cutUnbalanced,
  postprocess,
  type PostprocessInput,
} from '../../src/completion/postprocess';

function input(over: Partial<PostprocessInput>): PostprocessInput {
  return {
    raw: '',
    linePrefix: '',
    lineSuffix: '',
    suffix: '',
    prefix: '',
    multiline: false,
    ...over,
  };
}

describe('completion post-processing', () => {
  it('keeps one line unless multi-line is allowed', () => {
    const r = postprocess(input({ raw: 'foo(1)\nbar(2)', prefix: 'x = ', linePrefix: 'x = ' }));
    assert.deepEqual(r, { ok: true, text: 'foo(1)' });
  });

  it('stops a multi-line suggestion at a line that leaves the block', () => {
    const prefix = 'def f(x):\n    ';
    const r = postprocess(
      input({
        raw: 'y = x + 1\n    return y\n\ndef g():\n    pass',
        prefix,
        linePrefix: '    ',
        multiline: true,
      }),
    );
    assert.deepEqual(r, { ok: true, text: 'y = x + 1\n    return y' });
  });

  it('stops where the suggestion repeats the next line of the file', () => {
    const prefix = 'function f() {\n  ';
    const suffix = '\n  return a;\n}\n';
    const r = postprocess(
      input({
        raw: 'const a = 1;\n  return a;\n}',
        prefix,
        suffix,
        linePrefix: '  ',
        multiline: true,
      }),
    );
    assert.deepEqual(r, { ok: true, text: 'const a = 1;' });
  });

  it('drops the rest of the line when the model repeats it', () => {
    const r = postprocess(
      input({ raw: 'a, b)', prefix: 'f(', linePrefix: 'f(', lineSuffix: ')', suffix: ')\n' }),
    );
    assert.deepEqual(r, { ok: true, text: 'a, b' });
  });

  it('cuts at a closing bracket that closes nothing', () => {
    assert.equal(cutUnbalanced('x]) + 1', 'foo(', ''), 'x');
    assert.equal(cutUnbalanced('x) + 1', 'foo(', ''), 'x) + 1', 'closes the ( before the cursor');
    assert.equal(
      cutUnbalanced('x) + 1', 'foo(', ')'),
      'x',
      'the ) after the cursor already closes it',
    );
    assert.equal(
      cutUnbalanced('g(")") + 1', '', ''),
      'g(")") + 1',
      'brackets in strings do not count',
    );
    assert.equal(cutUnbalanced('[1, 2}', '', ''), '[1, 2', 'mismatched closer');
  });

  it('discards empty, bracket-only and suffix-repeating suggestions with a reason', () => {
    assert.deepEqual(postprocess(input({ raw: '   \n' })), { ok: false, reason: 'empty' });
    assert.deepEqual(postprocess(input({ raw: ');', prefix: 'f(' })), {
      ok: false,
      reason: 'only-closing-brackets',
    });
    assert.deepEqual(postprocess(input({ raw: 'return x', suffix: 'return x;\n' })), {
      ok: false,
      reason: 'repeats-suffix',
    });
  });

  it('trims trailing whitespace and normalises CRLF', () => {
    assert.deepEqual(postprocess(input({ raw: 'a = 1;   \r\n', multiline: true })), {
      ok: true,
      text: 'a = 1;',
    });
  });

  it('decides multi-line by policy and cursor position', () => {
    assert.equal(allowMultiline('never', '', ''), false);
    assert.equal(allowMultiline('always', 'x = f(', 'y)'), true);
    assert.equal(allowMultiline('auto', '    ', ''), true, 'blank line');
    assert.equal(allowMultiline('auto', 'def f(x):', ''), true, 'block opener');
    assert.equal(allowMultiline('auto', 'if (a) {', ''), true);
    assert.equal(allowMultiline('auto', 'x = foo', ''), false, 'mid-statement');
    assert.equal(allowMultiline('auto', '    ', ')'), false, 'text after the cursor');
  });
});
