// Issue #10: the completion prompt keeps its head stable while the user types, so the engine's KV
// prefix reuse hits. The whole path the editor and the sidecar take: extractContext (extension) ->
// buildCompletionPrompt + fitPrompt (sidecar) -> the embedded model's real tokenizer.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { extractContext, prefixGrid } from '../../src/completion/context';
import { buildCompletionPrompt, fitPrompt } from '../../src/sidecar/completion-prompt';
import { ModelTokenizer } from '../../src/sidecar/tokenizer';
import { repoRoot } from './helpers/repo';

const OPTIONS = { maxPrefixChars: 4000, maxSuffixChars: 1000 }; // the settings' defaults

function lcp(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

describe('completion prompt stability while typing', function () {
  this.timeout(30000);
  const tokenizer = ModelTokenizer.load(path.join(repoRoot(), 'models', 'localmoe-code-tiny'));
  // The document of the benchmark's editing session: a real Python file of this repo, frozen in the trace.
  const trace = JSON.parse(
    readFileSync(path.join(repoRoot(), 'bench', 'traces', 'completion-session.json'), 'utf8'),
  ) as { source: { path: string; text: string } };
  const source = trace.source.text;

  const promptAt = (text: string, cursor: number) => {
    const ctx = extractContext({ text, start: 0 }, cursor, OPTIONS);
    const prompt = buildCompletionPrompt({
      prefix: ctx.prefix,
      suffix: ctx.suffix,
      languageId: 'python',
      fileName: trace.source.path,
    });
    const ids = fitPrompt((t) => tokenizer.encode(t, { bos: true }), prompt, 2048 - 64);
    return { text: prompt.header + prompt.body, ids, prefixStart: ctx.prefixStart };
  };

  it('typing at the cursor only appends to the prompt text; tokens differ only at the tail', () => {
    // Retype a real line of the file character by character, as a user would.
    const line =
      source.split('\n').find((l, i, all) => i > all.length * 0.7 && l.trim().length > 40)! + '\n';
    const at = source.indexOf(line, source.length / 2);
    assert.ok(at > 4000, 'the cursor is deep enough in the file for the prefix to be cut');
    const doc = source.slice(0, at) + source.slice(at + line.length);
    let previous = promptAt(doc, at);
    assert.ok(previous.ids.length > 800, `a long context (${previous.ids.length} tokens)`);
    let crossed = 0;
    for (let i = 1; i <= line.length; i++) {
      const text = doc.slice(0, at) + line.slice(0, i) + doc.slice(at);
      const next = promptAt(text, at + i);
      if (next.prefixStart !== previous.prefixStart) {
        crossed++; // the cursor crossed a grid line: the head moves once, by design
      } else {
        assert.ok(
          next.text.startsWith(previous.text),
          `keystroke ${i}: the old prompt is a prefix`,
        );
        const kept = lcp(previous.ids, next.ids);
        assert.ok(
          kept >= previous.ids.length - 2,
          `keystroke ${i}: ${previous.ids.length - kept} tokens of the old prompt changed (at most 2: re-merged tail)`,
        );
      }
      previous = next;
    }
    assert.ok(crossed <= Math.ceil(line.length / prefixGrid(OPTIONS.maxPrefixChars)) + 1);
  });

  it('an edit near the cursor changes only the end of the prompt', () => {
    const cursor = source.length - 200;
    const a = promptAt(source, cursor);
    // An edit near the cursor changes only the end of the prompt.
    const edited = source.slice(0, cursor - 10) + 'X' + source.slice(cursor - 10);
    const b = promptAt(edited, cursor + 1);
    assert.equal(a.prefixStart, b.prefixStart);
    const kept = lcp(a.ids, b.ids);
    assert.ok(
      kept >= a.ids.length - 8,
      `${a.ids.length - kept} tokens changed for an edit 10 chars back`,
    );
  });

  it('the committed benchmark trace matches the current prompt code and tokenizer', () => {
    const script = path.join(repoRoot(), 'bench', 'traces', 'make-completion-trace.mjs');
    const r = spawnSync(process.execPath, [script, '--check'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr + r.stdout);
  });
});
