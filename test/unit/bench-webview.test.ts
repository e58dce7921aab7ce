// The benchmark panel's real script (webview/bench/main.ts, bundled here with esbuild) in a jsdom
// page built from the real HTML shell (src/bench/html.ts): the report becomes a header, three SVG
// bar charts and a table of every figure; the buttons post typed messages; state survives a reload.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { METRICS } from '../../src/bench/format';
import { benchHtml } from '../../src/bench/html';
import {
  parseFromBenchWebview,
  type FromBenchWebview,
  type ToBenchWebview,
} from '../../src/bench/messages';
import { parseBenchReport, type BenchReport } from '../../src/bench/report';
import { repoRoot } from './helpers';

const load = createRequire(__filename);
const { JSDOM } = load('jsdom') as typeof import('jsdom');
const esbuild = load('esbuild') as typeof import('esbuild');

let bundle: string;

function report(name: string): BenchReport {
  const r = parseBenchReport(
    fs.readFileSync(path.join(repoRoot(), 'test/unit/fixtures', name), 'utf8'),
  );
  if (!r.ok) throw new Error(r.error);
  return r.report;
}

function open(savedState?: unknown) {
  const html = benchHtml({
    cspSource: 'vscode-resource:',
    nonce: 'n0',
    scriptUri: 'bench.js',
    styleUri: 'bench.css',
  })
    .replace(/<script[^>]*><\/script>/, '')
    .replace(/<link[^>]*>/, '');
  const dom = new JSDOM(html, { runScripts: 'outside-only', pretendToBeVisual: true });
  const posted: FromBenchWebview[] = [];
  let state = savedState;
  Object.assign(dom.window, {
    acquireVsCodeApi: () => ({
      postMessage: (m: FromBenchWebview) =>
        posted.push(JSON.parse(JSON.stringify(m)) as FromBenchWebview),
      getState: () => state,
      setState: (s: unknown) => (state = JSON.parse(JSON.stringify(s))),
    }),
  });
  dom.window.eval(bundle);
  const w = dom.window;
  return {
    doc: w.document as unknown as Document,
    posted,
    state: () => state,
    send: (data: ToBenchWebview) => w.dispatchEvent(new w.MessageEvent('message', { data })),
  };
}

describe('bench webview script (jsdom)', function () {
  this.timeout(20000);
  before(() => {
    const out = esbuild.buildSync({
      entryPoints: [path.join(repoRoot(), 'webview/bench/main.ts')],
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'browser',
      target: 'es2022',
      loader: { '.css': 'empty' },
      outfile: 'bench.js',
      logLevel: 'silent',
    });
    bundle = out.outputFiles.find((f) => f.path.endsWith('.js'))?.text ?? '';
    assert.ok(bundle.length > 1000);
  });

  it('says ready, then renders every variant as a table row with all metrics, — for nulls', () => {
    const p = open();
    assert.deepEqual(p.posted, [{ type: 'ready' }]);
    assert.equal(p.doc.getElementById('app')?.getAttribute('aria-busy'), 'true');
    p.send({ type: 'show', report: report('bench-cuda-ablate.json'), fileName: 'r.json' });
    assert.equal(p.doc.getElementById('app')?.getAttribute('aria-busy'), 'false');
    const rows = [...p.doc.querySelectorAll('#bench-table tbody tr')];
    assert.deepEqual(
      rows.map((r) => r.getAttribute('data-variant')),
      ['naive', 'lru', 'lru+prefetch', 'all-resident'],
    );
    const heads = [...p.doc.querySelectorAll('#bench-table thead th')].map((t) => t.textContent);
    assert.deepEqual(heads, ['variant', ...METRICS.map((m) => m.label)]);
    for (const r of rows) assert.equal(r.querySelectorAll('td').length, METRICS.length);
    assert.equal(rows[0].querySelector('th')?.getAttribute('scope'), 'row');
    assert.equal(rows[3].querySelector('td[data-metric="decode"]')?.textContent, '880');
    const hit = rows[3].querySelector('td[data-metric="hit"]');
    assert.equal(hit?.textContent, '—');
    assert.equal(hit?.getAttribute('aria-label'), 'not measured');
    assert.match(p.doc.getElementById('title')?.textContent ?? '', /mixtral-2bit/);
    assert.match(p.doc.getElementById('header-info')?.textContent ?? '', /NVIDIA H100 80GB HBM3/);
    assert.match(p.doc.getElementById('command')?.textContent ?? '', /^Command: moe bench --model/);
  });

  it('draws three labelled SVG bar charts, one bar per measured variant', () => {
    const p = open();
    p.send({ type: 'show', report: report('bench-cuda-ablate.json'), fileName: 'r.json' });
    const charts = [...p.doc.querySelectorAll('#charts svg')];
    assert.deepEqual(
      charts.map((c) => c.getAttribute('data-metric')),
      ['decode', 'prefill', 'ttft'],
    );
    for (const c of charts) {
      assert.equal(c.getAttribute('role'), 'img');
      assert.match(
        c.getAttribute('aria-label') ?? '',
        /by variant: Naive offloading \(no cache\) /,
      );
      assert.equal(c.querySelectorAll('g.bar-row').length, 4);
      assert.equal(c.querySelectorAll('rect.bar').length, 4);
      assert.equal(c.namespaceURI, 'http://www.w3.org/2000/svg');
    }
    assert.match(charts[2].getAttribute('aria-label') ?? '', /lower is better/);
    // The widest decode bar is all-resident's.
    const widths = [...charts[0].querySelectorAll('rect.bar')].map((r) =>
      Number(r.getAttribute('width')),
    );
    assert.equal(Math.max(...widths), widths[3]);
    // No inline styles or handlers anywhere (the CSP forbids them).
    for (const e of p.doc.querySelectorAll('*')) {
      assert.ok(!e.hasAttribute('style'), `style attribute on <${e.tagName}>`);
      for (const a of e.getAttributeNames())
        assert.ok(!a.startsWith('on'), `${a} on <${e.tagName}>`);
    }
  });

  it('renders a CPU report (nulls: no bar, "—"), and hostile labels only as text', () => {
    const r = report('bench-cpu.json');
    r.variants[0].label = '<img src=x onerror=alert(1)>';
    r.variants.push({ ...r.variants[0], name: 'empty', label: 'empty', decode_tok_s: null });
    const p = open();
    p.send({ type: 'show', report: r, fileName: 'c.json' });
    assert.equal(p.doc.querySelectorAll('img').length, 0);
    assert.equal(
      p.doc.querySelector('#bench-table tbody th')?.textContent,
      '<img src=x onerror=alert(1)>',
    );
    const decode = p.doc.querySelector('#charts svg[data-metric="decode"]');
    assert.equal(decode?.querySelectorAll('rect.bar').length, 1);
    assert.equal(decode?.querySelectorAll('text.value.missing').length, 1);
  });

  it('posts Open JSON / Copy as Markdown, and restores the last report after a reload', () => {
    const p = open();
    p.send({ type: 'show', report: report('bench-cpu.json'), fileName: 'c.json' });
    (p.doc.getElementById('open-json') as HTMLButtonElement).click();
    (p.doc.getElementById('copy-markdown') as HTMLButtonElement).click();
    assert.deepEqual(p.posted, [{ type: 'ready' }, { type: 'openJson' }, { type: 'copyMarkdown' }]);
    const again = open(p.state());
    assert.equal(again.doc.querySelectorAll('#bench-table tbody tr').length, 1);
  });

  it('the shell has the strict CSP with the nonce; messages from the webview are validated', () => {
    const html = benchHtml({
      cspSource: 'vscode-resource:',
      nonce: 'abc',
      scriptUri: 's.js',
      styleUri: 's.css',
    });
    assert.match(html, /default-src 'none'; script-src 'nonce-abc'; style-src vscode-resource:/);
    assert.match(html, /<script nonce="abc" src="s\.js"><\/script>/);
    assert.doesNotMatch(html, /style="/);
    assert.deepEqual(parseFromBenchWebview({ type: 'openJson' }), { type: 'openJson' });
    assert.equal(parseFromBenchWebview({ type: 'eval', code: '1' }), undefined);
    assert.equal(parseFromBenchWebview('ready'), undefined);
  });
});
