#!/usr/bin/env node
// Writes bench/traces/completion-session.json: the editing session `moe bench --scenario completion`
// replays (issue #10). Run from the repo root: node bench/traces/make-completion-trace.mjs
// (--check: compare with the committed trace instead of writing it; test/sidecar runs that).
//
// What is real and what is synthesised (say so wherever the numbers are quoted):
// - The document is a real file of this repo (test/fixtures/make_golden.py, Python, the embedded
//   model's main corpus language), stored verbatim in the trace so the trace never drifts from it.
// - The keystrokes are SYNTHESISED from it, not recorded from a person: at a few sites in the second
//   half of the file a real line's text is removed and retyped character by character, with
//   inter-key gaps drawn from a seeded generator (40-260 ms, and a 1.5-3 s pause before moving to
//   the next site) and an occasional typo fixed with backspace. Deterministic for a given seed.
// - Requests are those the extension would send: one after each keystroke that is followed by a
//   pause of at least the debounce (completion.debounceMs, 150 ms); faster keystrokes cancel the
//   pending one during its debounce (src/completion/completer.ts). The completion cache is not
//   modelled (every such request reaches the engine), nor are requests superseded while running.
// - Each request's prompt ids come from the extension's and sidecar's own code, bundled here from
//   src/: extractContext (src/completion/context.ts) with the settings' defaults, then
//   buildCompletionPrompt + fitPrompt (src/sidecar/completion-prompt.ts) and the embedded model's
//   tokenizer (src/sidecar/tokenizer.ts), exactly as server.ts builds them.
// Prompts are stored as deltas against the previous request's ids: {keep, append} (keep = length
// of the common prefix), so the trace stays small; the bench rebuilds every prompt.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SOURCE = 'test/fixtures/make_golden.py';
const MODEL = 'models/localmoe-code-tiny';
const OUT = path.join(root, 'bench', 'traces', 'completion-session.json');
const SEED = 20261125;
const SITES = 4; // editing sites, each a retyped line
const SETTINGS = {
  // src/config/schema.ts DEFAULT_CONFIG.completion
  maxPrefixChars: 4000,
  maxSuffixChars: 1000,
  debounceMs: 150,
  maxTokens: 64,
  // the engine's context for the embedded model: min(localmoe.maxContext 4096, max_position_embeddings 2048)
  contextTokens: 2048,
  languageId: 'python',
  fileName: SOURCE,
};

// The prompt pipeline, bundled from the TypeScript sources (so this script cannot drift from them).
async function loadPipeline() {
  const bundle = path.join(
    fs.mkdtempSync(path.join(os.tmpdir(), 'localmoe-trace-')),
    'pipeline.cjs',
  );
  await esbuild.build({
    stdin: {
      contents: [
        "export { extractContext, windowBefore, windowAfter } from './src/completion/context';",
        "export { buildCompletionPrompt, fitPrompt } from './src/sidecar/completion-prompt';",
        "export { ModelTokenizer } from './src/sidecar/tokenizer';",
      ].join('\n'),
      resolveDir: root,
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: bundle,
    logLevel: 'warning',
  });
  return createRequire(import.meta.url)(bundle);
}

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function commonPrefix(a, b) {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

async function main() {
  const p = await loadPipeline();
  const original = fs.readFileSync(path.join(root, SOURCE), 'utf8');
  const tokenizer = p.ModelTokenizer.load(path.join(root, MODEL));
  const rand = mulberry32(SEED);

  // Sites: lines in the second half (deep enough that the prefix is cut to its budget), with
  // code worth typing (30..90 chars after the indentation), in file order, spread out.
  const lines = original.split('\n');
  let offset = 0;
  const candidates = [];
  for (const line of lines) {
    const body = line.trimStart();
    const indent = line.length - body.length;
    if (
      offset > original.length / 2 &&
      body.length >= 30 &&
      body.length <= 90 &&
      !body.startsWith('#')
    )
      candidates.push({ at: offset + indent, text: body });
    offset += line.length + 1;
  }
  const sites = [];
  for (let i = 0; i < SITES; i++)
    sites.push(candidates[Math.floor(((i + 0.5) * candidates.length) / SITES)]);

  // The starting document: every site's text removed (the user is about to write those lines).
  let doc = original;
  for (const s of [...sites].reverse()) doc = doc.slice(0, s.at) + doc.slice(s.at + s.text.length);
  const startDoc = doc;

  // Events: move to a site, type its text (with typos fixed by backspace), pause, next site.
  const events = [];
  let t = 0;
  for (const s of sites) {
    // Earlier sites are retyped by now, so a site sits at its offset in the original file.
    let cursor = s.at;
    t += 1500 + Math.floor(rand() * 1500);
    events.push({ t_ms: t, type: 'move', cursor });
    for (const ch of s.text) {
      if (rand() < 0.04 && /[a-z]/.test(ch)) {
        const typo = String.fromCharCode(97 + Math.floor(rand() * 26));
        t += 40 + Math.floor(rand() * 220);
        events.push({ t_ms: t, type: 'type', cursor, text: typo });
        doc = doc.slice(0, cursor) + typo + doc.slice(cursor);
        cursor++;
        t += 150 + Math.floor(rand() * 300);
        events.push({ t_ms: t, type: 'backspace', cursor });
        doc = doc.slice(0, cursor - 1) + doc.slice(cursor);
        cursor--;
      }
      t += 40 + Math.floor(rand() * 220);
      events.push({ t_ms: t, type: 'type', cursor, text: ch });
      doc = doc.slice(0, cursor) + ch + doc.slice(cursor);
      cursor++;
    }
  }
  if (doc !== original)
    throw new Error('replaying the events does not give the original file back');

  // Requests: after each edit followed by a pause >= debounce (the last edit always fires).
  const budget = Math.max(1, SETTINGS.contextTokens - SETTINGS.maxTokens);
  const requests = [];
  let previous = [];
  doc = startDoc;
  const edits = events.filter((e) => e.type !== 'move');
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    if (e.type === 'type') doc = doc.slice(0, e.cursor) + e.text + doc.slice(e.cursor);
    if (e.type === 'backspace') doc = doc.slice(0, e.cursor - 1) + doc.slice(e.cursor);
    if (e.type === 'move') continue;
    const cursor = e.type === 'type' ? e.cursor + 1 : e.cursor - 1;
    const next = events[i + 1];
    if (next && next.t_ms - e.t_ms < SETTINGS.debounceMs) continue;
    const ctx = p.extractContext({ text: doc, start: 0 }, cursor, SETTINGS);
    const prompt = p.buildCompletionPrompt({
      prefix: ctx.prefix,
      suffix: ctx.suffix,
      languageId: SETTINGS.languageId,
      fileName: SETTINGS.fileName,
    });
    const ids = p.fitPrompt((text) => tokenizer.encode(text, { bos: true }), prompt, budget);
    const keep = commonPrefix(previous, ids);
    requests.push({
      t_ms: e.t_ms + SETTINGS.debounceMs,
      event: i,
      cursor,
      prefix_start: ctx.prefixStart,
      prompt_tokens: ids.length,
      keep,
      append: ids.slice(keep),
    });
    previous = ids;
  }

  const trace = {
    schema: 'localmoe.completion-trace/1',
    description:
      'An editing session over a real source file, replayed by `moe bench --scenario completion`. ' +
      'The document is real; the keystrokes are synthesised (seeded) by bench/traces/make-completion-trace.mjs. ' +
      'Each request prompt = previous request prompt[0, keep) + append.',
    generator: {
      script: 'bench/traces/make-completion-trace.mjs',
      seed: SEED,
      synthetic_keystrokes: true,
    },
    source: {
      path: SOURCE,
      sha1: crypto.createHash('sha1').update(original).digest('hex'),
      chars: original.length,
      text: original,
    },
    tokenizer: `${MODEL}/tokenizer.json`,
    settings: SETTINGS,
    start_text: startDoc,
    events,
    requests,
    summary: {
      events: events.length,
      edits: edits.length,
      requests: requests.length,
      prompt_tokens_min: Math.min(...requests.map((r) => r.prompt_tokens)),
      prompt_tokens_max: Math.max(...requests.map((r) => r.prompt_tokens)),
      duration_ms: events.at(-1).t_ms,
    },
  };
  const text = JSON.stringify(trace, null, 1) + '\n';
  if (process.argv.includes('--check')) {
    // Fails when the committed trace no longer matches the prompt code or the tokenizer.
    const committed = fs.existsSync(OUT) ? fs.readFileSync(OUT, 'utf8') : '';
    if (committed !== text) {
      console.error(
        `${path.relative(root, OUT)} is stale: the prompt pipeline changed; rerun this script`,
      );
      process.exit(1);
    }
    console.log(`${path.relative(root, OUT)} is up to date: ${JSON.stringify(trace.summary)}`);
    return;
  }
  fs.writeFileSync(OUT + '.tmp', text);
  fs.renameSync(OUT + '.tmp', OUT);
  console.log(`wrote ${path.relative(root, OUT)}: ${JSON.stringify(trace.summary)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
