// Issue #10: completion prompts are tokenized incrementally (only the lines after the last change).
// The ids must be exactly those of a full tokenization: checked on every prompt of the benchmark's
// editing session, on seeded random edit sequences (code, unicode, whitespace runs, special-token
// text), and with the stand-in Llama-2 vocabulary; plus the cases that must fall back to a full
// tokenization, and a timing print (no time assert: machines vary).
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { extractContext } from '../../src/completion/context';
import { buildCompletionPrompt, fitPrompt } from '../../src/sidecar/completion-prompt';
import { IncrementalEncoder, planReuse } from '../../src/sidecar/incremental-encoder';
import { ModelTokenizer } from '../../src/sidecar/tokenizer';
import { newlineBoundaryProblem } from '../../src/sidecar/tokenizer-locality';
import { prng } from './helpers/prng';
import { repoRoot } from './helpers/repo';

interface TraceEvent {
  type: 'move' | 'type' | 'backspace';
  cursor: number;
  text?: string;
}
interface TraceRequest {
  event: number;
  cursor: number;
  keep: number;
  append: number[];
}
interface Trace {
  source: { path: string; text: string };
  settings: {
    maxPrefixChars: number;
    maxSuffixChars: number;
    maxTokens: number;
    contextTokens: number;
    languageId: string;
    fileName: string;
  };
  start_text: string;
  events: TraceEvent[];
  requests: TraceRequest[];
}

const EMBEDDED = path.join(repoRoot(), 'models', 'localmoe-code-tiny');
const LLAMA2 = path.join(repoRoot(), 'node_modules', '@lenml', 'tokenizer-llama2', 'models');

function loadTrace(): Trace {
  const file = path.join(repoRoot(), 'bench', 'traces', 'completion-session.json');
  return JSON.parse(readFileSync(file, 'utf8')) as Trace;
}

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

/** Pieces random edits insert: code, unicode (astral, combining, CJK, NBSP, a lone surrogate),
 * whitespace runs, CRLF, special-token text and the '▁' / '<0x0A>' spellings themselves. */
const FRAGMENTS = [
  'def f(x):\n    return x + 1\n',
  '    if a == b:\n',
  'x',
  ' ',
  '\n',
  '\n\n\n',
  '    ',
  '\t\t',
  '   \n   ',
  '\r\n',
  'héllo wörld',
  '日本語のテキスト',
  '🙂👍🏽',
  'e\u0301',
  '\u00a0',
  '\ud800',
  '<s>',
  '</s>',
  '<unk>',
  '<0x0A>',
  '[INST] hi [/INST]',
  '▁▁',
  '# comment: ok\n',
  '"""docstring"""',
  '{"a": [1, 2, 3]}',
  ')',
  '=',
];

/** One random edit of `doc`: mostly near the end (typing), sometimes anywhere; inserts, deletes
 * (possibly across lines) and replacements. */
function randomEdit(doc: string, rand: () => number): string {
  const near = rand() < 0.5;
  const at = near
    ? Math.max(0, doc.length - Math.floor(rand() * 80))
    : Math.floor(rand() * (doc.length + 1));
  const r = rand();
  const fragment = FRAGMENTS[Math.floor(rand() * FRAGMENTS.length)]!;
  const piece =
    rand() < 0.5 ? fragment : fragment.slice(0, 1 + Math.floor(rand() * fragment.length));
  if (r < 0.55) return doc.slice(0, at) + piece + doc.slice(at);
  const len = 1 + Math.floor(rand() * (rand() < 0.8 ? 3 : 60));
  if (r < 0.85) return doc.slice(0, at) + doc.slice(at + len);
  return doc.slice(0, at) + piece + doc.slice(at + len);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

describe('incremental tokenization of completion prompts', function () {
  this.timeout(120000);
  const tokenizer = ModelTokenizer.load(EMBEDDED);
  const trace = loadTrace();

  it('the embedded (Mixtral) tokenizer qualifies: a newline is a hard boundary', () => {
    assert.equal(tokenizer.newlineSplitProblem, undefined);
    const split = tokenizer.newlineSplit!;
    assert.deepEqual(split.lead, tokenizer.encode('\n', { bos: false })); // ['▁', '<0x0A>']
    assert.equal(split.lead.at(-1), split.newlineId);
  });

  it('replays every prompt of the benchmark trace: ids equal full tokenization and the trace', () => {
    const { settings } = trace;
    const encoder = tokenizer.incrementalEncoder();
    const budget = Math.max(1, settings.contextTokens - settings.maxTokens);
    let doc = trace.start_text;
    let nextEvent = 0;
    let previous: number[] = [];
    let calls = 0;
    let incremental = 0;
    for (const request of trace.requests) {
      for (; nextEvent <= request.event; nextEvent++) {
        const e = trace.events[nextEvent]!;
        if (e.type === 'type') doc = doc.slice(0, e.cursor) + e.text! + doc.slice(e.cursor);
        if (e.type === 'backspace') doc = doc.slice(0, e.cursor - 1) + doc.slice(e.cursor);
      }
      const ctx = extractContext({ text: doc, start: 0 }, request.cursor, settings);
      const prompt = buildCompletionPrompt({
        prefix: ctx.prefix,
        suffix: ctx.suffix,
        languageId: settings.languageId,
        fileName: settings.fileName,
      });
      const ids = fitPrompt(
        (text) => {
          const viaIncremental = tokenizer.encode(text, { bos: true, via: encoder });
          calls++;
          if (encoder.lastPath.kind === 'incremental') incremental++;
          assert.deepEqual(viaIncremental, tokenizer.encode(text, { bos: true }), `call ${calls}`);
          return viaIncremental;
        },
        prompt,
        budget,
      );
      const expected = previous.slice(0, request.keep).concat(request.append);
      assert.deepEqual(ids, expected, `request at event ${request.event}: trace ids`);
      previous = ids;
    }
    assert.equal(trace.requests.length, 135);
    // All but the first prompt and the prefix-window jumps reuse the previous ids.
    assert.ok(incremental >= calls - 10, `${incremental} of ${calls} encodes were incremental`);
    console.log(
      `      trace: ${trace.requests.length} requests, ${calls} encodes, ${incremental} incremental, all identical`,
    );
  });

  for (const [name, dir, seeds, steps] of [
    ['embedded Mixtral tokenizer', EMBEDDED, [1, 2, 3, 4], 250],
    ['stand-in Llama-2 tokenizer', LLAMA2, [5], 100],
  ] as const) {
    it(`random edit sequences give the same ids as full tokenization (${name})`, () => {
      const tok = dir === EMBEDDED ? tokenizer : ModelTokenizer.load(dir);
      assert.ok(tok.newlineSplit, tok.newlineSplitProblem);
      const source = trace.source.text;
      let compared = 0;
      let incremental = 0;
      for (const seed of seeds) {
        const rand = prng(seed);
        const encoder = tok.incrementalEncoder();
        const start = Math.floor(rand() * (source.length - 1500));
        let doc = source.slice(start, start + 1500);
        for (let step = 0; step < steps; step++) {
          doc = randomEdit(doc, rand);
          if (doc.length > 2500) doc = doc.slice(doc.length - 2000); // a moving window, like the prefix
          const ids = tok.encode(doc, { bos: true, via: encoder });
          assert.deepEqual(
            ids,
            tok.encode(doc, { bos: true }),
            `seed ${seed} step ${step}: ${JSON.stringify(doc.slice(-120))}`,
          );
          compared++;
          if (encoder.lastPath.kind === 'incremental') incremental++;
        }
      }
      assert.ok(incremental > compared / 2, `${incremental} of ${compared} incremental`);
      console.log(
        `      ${name}: ${compared} random edits, ${incremental} incremental, all identical`,
      );
    });
  }

  it('typing character by character (unicode, whitespace runs) gives the same ids', () => {
    const encoder = tokenizer.incrementalEncoder();
    const text =
      'def ünïcode(s):\n\t  return s  +  "🙂👍🏽"\n\n\n    x = 日本  # é\u0301\n<s>\n</s>x\r\n';
    let doc = trace.source.text.slice(0, 2000);
    for (const ch of text) {
      doc += ch;
      assert.deepEqual(
        tokenizer.encode(doc, { bos: false, via: encoder }),
        tokenizer.encode(doc, { bos: false }),
      );
    }
  });

  describe('falls back to a full tokenization', () => {
    const full = (text: string) => tokenizer.encode(text, { bos: false });
    const split = tokenizer.newlineSplit!;

    it('on the first prompt, and when the change is on the first line', () => {
      const encoder = new IncrementalEncoder(full, split);
      encoder.encode('# File: a.py\nx = 1\n');
      assert.deepEqual(encoder.lastPath, { kind: 'full', reason: 'first prompt' });
      const ids = encoder.encode('# File: b.py\nx = 1\n');
      assert.deepEqual(encoder.lastPath, {
        kind: 'full',
        reason: 'no newline before the first change',
      });
      assert.deepEqual(ids, full('# File: b.py\nx = 1\n'));
      encoder.encode('z');
      assert.deepEqual(encoder.lastPath, {
        kind: 'full',
        reason: 'nothing in common with the previous prompt',
      });
    });

    it('reuses up to the last newline before the change otherwise', () => {
      const encoder = new IncrementalEncoder(full, split);
      encoder.encode('# File: a.py\nx = 1\ny = 2');
      const ids = encoder.encode('# File: a.py\nx = 1\ny = 23');
      assert.deepEqual(ids, full('# File: a.py\nx = 1\ny = 23'));
      assert.equal(encoder.lastPath.kind, 'incremental');
      assert.equal(encoder.lastPath.kind === 'incremental' && encoder.lastPath.tailChars, 6);
    });

    it('when the tokenizer is not known to be line-local', () => {
      const encoder = new IncrementalEncoder(full, undefined);
      encoder.encode('a\nb');
      encoder.encode('a\nbc');
      assert.deepEqual(encoder.lastPath, {
        kind: 'full',
        reason: 'tokenizer: newline is not a hard boundary',
      });
    });

    it('when the tail does not start with the probed newline lead, or ids lack newline tokens', () => {
      // A tokenizer breaking the boundary assumption: '\n' + tail comes out without the lead.
      const odd = (text: string) =>
        text.startsWith('\n') ? [7, ...full(text).slice(2)] : full(text);
      const encoder = new IncrementalEncoder(odd, split);
      encoder.encode('a\nb');
      assert.deepEqual(encoder.encode('a\nbc'), full('a\nbc'));
      assert.deepEqual(encoder.lastPath, {
        kind: 'full',
        reason: 'tail did not start with the newline lead',
      });
      assert.equal(
        planReuse('a\nb\nc', [5, 6, 7], 'a\nb\nd', split.newlineId),
        'previous ids have fewer newline tokens than the text has newlines',
      );
    });

    it('for tokenizer.json shapes where a newline may not be a boundary', () => {
      const json = readJson(path.join(EMBEDDED, 'tokenizer.json'));
      const config = readJson(path.join(EMBEDDED, 'tokenizer_config.json'));
      assert.equal(newlineBoundaryProblem(json, config), undefined);
      assert.equal(
        newlineBoundaryProblem(readJson(path.join(LLAMA2, 'tokenizer.json')), {}),
        undefined,
      );
      const model = json.model as { vocab: Record<string, number>; merges: string[] };
      const cases: [string, Record<string, unknown>, Record<string, unknown>][] = [
        ['NFKC', { ...json, normalizer: { type: 'NFKC' } }, config],
        ['ByteLevel', { ...json, pre_tokenizer: { type: 'ByteLevel' } }, config],
        [
          'Replace',
          {
            ...json,
            normalizer: { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' },
          },
          config,
        ],
        ['remove_space', json, { ...config, remove_space: true }],
        [
          'a vocab piece',
          { ...json, model: { ...model, vocab: { ...model.vocab, 'a\n': 40000 } } },
          config,
        ],
        ['a merge', { ...json, model: { ...model, merges: [...model.merges, '<0x0A >'] } }, config],
        ['byte_fallback', { ...json, model: { ...model, byte_fallback: false } }, config],
        [
          'strips',
          {
            ...json,
            added_tokens: [{ id: 3, content: '[INST]', lstrip: false, rstrip: true }],
          },
          config,
        ],
      ];
      for (const [what, j, c] of cases)
        assert.ok(newlineBoundaryProblem(j, c) !== undefined, `${what} must be refused`);
    });
  });

  it('prints full vs incremental time for a ~4000-character prefix with one-character edits', () => {
    // A realistic prompt: header + the 4000 characters before a line in the second half of the file.
    const source = trace.source.text;
    const end = source.indexOf('\n', Math.floor(source.length * 0.75)) + 1;
    const header = buildCompletionPrompt({
      prefix: '',
      suffix: '',
      languageId: 'python',
      fileName: trace.source.path,
    }).header;
    const base = header + source.slice(end - 4000, end);
    const edits: [string, (i: number) => string][] = [
      ['typing at the end', (i) => base + 'abcdefghij'.repeat(4).slice(0, i + 1)],
      [
        'insert 3 lines back',
        (i) => {
          const at = base.lastIndexOf('\n', base.length - 2 - 60) - 5;
          return base.slice(0, at) + 'x'.repeat(i + 1) + base.slice(at);
        },
      ],
    ];
    const runs = 30;
    for (const [what, textAt] of edits) {
      const encoder = tokenizer.incrementalEncoder();
      encoder.encode(base);
      for (let i = 0; i < 5; i++) tokenizer.encode(textAt(40 + i), { bos: true }); // warm-up
      const fullMs: number[] = [];
      const incMs: number[] = [];
      for (let i = 0; i < runs; i++) {
        const text = textAt(i);
        let t = process.hrtime.bigint();
        const a = tokenizer.encode(text, { bos: true });
        fullMs.push(Number(process.hrtime.bigint() - t) / 1e6);
        t = process.hrtime.bigint();
        const b = tokenizer.encode(text, { bos: true, via: encoder });
        incMs.push(Number(process.hrtime.bigint() - t) / 1e6);
        assert.deepEqual(b, a);
      }
      console.log(
        `      ${what}: ${base.length} chars, ${tokenizer.encode(base, { bos: true }).length} tokens; ` +
          `full p50 ${median(fullMs).toFixed(2)} ms (max ${Math.max(...fullMs).toFixed(2)}), ` +
          `incremental p50 ${median(incMs).toFixed(2)} ms (max ${Math.max(...incMs).toFixed(2)}), ${runs} edits`,
      );
    }
  });
});
