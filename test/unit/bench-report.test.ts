// The benchmark report parser (src/bench/report.ts) and the Markdown / table formatting
// (src/bench/format.ts), on the committed fixtures written to the `moe bench` JSON schema.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { METRICS, cell, formatRate, headerRows, reportMarkdown } from '../../src/bench/format';
import { parseBenchReport, validateBenchReport, type BenchReport } from '../../src/bench/report';
import { repoRoot } from './helpers';

const fixture = (name: string): string =>
  fs.readFileSync(path.join(repoRoot(), 'test/unit/fixtures', name), 'utf8');

function parsed(name: string): BenchReport {
  const r = parseBenchReport(fixture(name));
  if (!r.ok) throw new Error(r.error);
  return r.report;
}

describe('bench report parsing', () => {
  it('reads a real H100 run of the CLI (bench/results) and its notes', () => {
    const text = fs.readFileSync(
      path.join(repoRoot(), 'bench/results/2026-11-25-h100-cuda-ablate-paper-2bit.json'),
      'utf8',
    );
    const r = parseBenchReport(text);
    assert.ok(r.ok, r.ok ? '' : r.error);
    if (!r.ok) return;
    assert.deepEqual(
      r.report.variants.map((v) => v.name),
      ['naive', 'lru', 'lru+prefetch', 'all-resident'],
    );
    assert.deepEqual(r.report.notes, []);
    assert.equal(
      headerRows(r.report).find((g) => g.group === 'Notes'),
      undefined,
    );
    const withNote = parseBenchReport(
      JSON.stringify({
        ...JSON.parse(text),
        notes: ['all-resident skipped: out of GPU memory', 7],
      }),
    );
    assert.ok(withNote.ok);
    if (!withNote.ok) return;
    assert.deepEqual(withNote.report.notes, ['all-resident skipped: out of GPU memory']);
    const notes = headerRows(withNote.report).find((g) => g.group === 'Notes');
    assert.deepEqual(notes?.rows, [['1', 'all-resident skipped: out of GPU memory']]);
  });

  it('reads the CPU fixture: one variant, nulls kept as null', () => {
    const r = parsed('bench-cpu.json');
    assert.equal(r.model.name, 'localmoe-code-tiny');
    assert.equal(r.settings.device, 'cpu');
    assert.equal(r.machine.gpu, null);
    assert.equal(r.variants.length, 1);
    assert.equal(r.variants[0].decode_tok_s, 301.7);
    assert.equal(r.variants[0].cache.hit_rate, null);
    assert.equal(r.variants[0].memory.vram_bytes, null);
  });

  it('reads the CUDA ablation fixture in order and accepts unknown extra fields', () => {
    const r = parsed('bench-cuda-ablate.json');
    assert.deepEqual(
      r.variants.map((v) => v.name),
      ['naive', 'lru', 'lru+prefetch', 'all-resident'],
    );
    assert.equal(r.variants[1].runs.length, 3);
    assert.equal(r.variants[2].cache.prefetch_precision, 0.6);
    assert.equal(r.settings.vram_budget_bytes, 12884901888);
    // "driver" and a variant "note" are not in the schema: accepted, not kept.
    assert.ok(!('driver' in r.machine));
  });

  it('reads what the real `moe bench` wrote (CPU, embedded model)', () => {
    const r = parsed('bench-real-cpu.json');
    assert.equal(r.model.name, 'localmoe-code-tiny');
    assert.equal(r.model.expert_bytes, null);
    assert.equal(r.variants.length, 1);
    assert.equal(r.variants[0].name, 'cpu');
    assert.ok((r.variants[0].decode_tok_s ?? 0) > 0);
    assert.equal(r.settings.policy, 'lru');
    const shape = headerRows(r)
      .flatMap((g) => g.rows)
      .find(([k]) => k === 'Shape');
    assert.deepEqual(shape, ['Shape', '8 layers, 8 experts, top-2']);
  });

  it('rejects another schema, a missing schema and broken JSON with clear messages', () => {
    const wrong = validateBenchReport({ schema: 'localmoe.bench/2', variants: [] });
    assert.ok(!wrong.ok);
    assert.match(
      wrong.error,
      /schema is "localmoe\.bench\/2", this version reads "localmoe\.bench\/1"/,
    );
    const none = validateBenchReport({ variants: [] });
    assert.ok(!none.ok);
    assert.match(none.error, /no "schema" field .* not a LocalMoE benchmark result/);
    const broken = parseBenchReport('{"schema": "localmoe.bench/1",');
    assert.ok(!broken.ok);
    assert.match(broken.error, /not valid JSON/);
    const array = parseBenchReport('[]');
    assert.ok(!array.ok);
    assert.match(array.error, /JSON object/);
  });

  it('names the field when a figure has the wrong type', () => {
    const raw = JSON.parse(fixture('bench-cpu.json'));
    raw.variants[0].decode_tok_s = '301';
    const r = validateBenchReport(raw);
    assert.ok(!r.ok);
    assert.match(r.error, /variants\[0\]\.decode_tok_s: expected a number or null/);
    const raw2 = JSON.parse(fixture('bench-cpu.json'));
    delete raw2.model.name;
    const r2 = validateBenchReport(raw2);
    assert.ok(!r2.ok);
    assert.match(r2.error, /model\.name: expected a string/);
    const raw3 = JSON.parse(fixture('bench-cpu.json'));
    raw3.variants = {};
    assert.match(
      (validateBenchReport(raw3) as { error: string }).error,
      /variants: expected an array/,
    );
  });

  it('fills absent optional blocks with nulls and a label from the name', () => {
    const raw = JSON.parse(fixture('bench-cpu.json'));
    delete raw.peak;
    delete raw.variants[0].cache;
    delete raw.variants[0].memory;
    delete raw.variants[0].label;
    delete raw.variants[0].runs;
    const r = validateBenchReport(raw);
    assert.ok(r.ok);
    assert.equal(r.report.peak.h2d_gbps, null);
    assert.equal(r.report.variants[0].label, 'cpu');
    assert.equal(r.report.variants[0].cache.copy_gbps, null);
    assert.deepEqual(r.report.variants[0].runs, []);
  });
});

describe('bench report formatting', () => {
  it('prints rates with three significant digits and nulls as —', () => {
    assert.equal(formatRate(880.2), '880');
    assert.equal(formatRate(88.04), '88.0');
    assert.equal(formatRate(3.051), '3.05');
    assert.equal(formatRate(0.1234), '0.123');
    assert.equal(formatRate(0), '0');
    const v = parsed('bench-cpu.json').variants[0];
    const byId = (id: string) => METRICS.find((m) => m.id === id)!;
    assert.equal(cell(byId('decode'), v), '302');
    assert.equal(cell(byId('hit'), v), '—');
    assert.equal(cell(byId('host'), v), '39.1 MiB');
  });

  it('header rows name the machine, model and settings', () => {
    const rows = headerRows(parsed('bench-cuda-ablate.json')).flatMap((g) => g.rows);
    const get = (k: string) => rows.find(([key]) => key === k)?.[1];
    assert.equal(get('GPU'), 'NVIDIA H100 80GB HBM3 (79.2 GiB)');
    assert.equal(get('Name'), 'mixtral-2bit (hqq:paper-2bit)');
    assert.match(get('Workload') ?? '', /prompt 512 tokens, generate 128, 3 run\(s\)/);
    assert.equal(get('VRAM budget'), '12.0 GiB');
    assert.equal(get('Expert cache'), 'lru, speculative loading 1 layer ahead, 2 guesses');
    const cpuRows = headerRows(parsed('bench-cpu.json')).flatMap((g) => g.rows);
    assert.equal(cpuRows.find(([k]) => k === 'GPU')?.[1], 'none');
    assert.equal(cpuRows.find(([k]) => k === 'VRAM budget')?.[1], '—');
  });

  it('exports Markdown: header, one row per variant with every metric, the command', () => {
    const md = reportMarkdown(parsed('bench-cuda-ablate.json'));
    const lines = md.split('\n');
    assert.match(lines[0], /^## LocalMoE benchmark: mixtral-2bit on cuda$/);
    const head = lines.find((l) => l.startsWith('| variant |'));
    assert.ok(head);
    assert.equal(head.split('|').length - 2, METRICS.length + 1);
    const rows = lines.filter((l) => /^\| .*\(`/.test(l));
    assert.equal(rows.length, 4);
    assert.match(
      rows[0],
      /^\| Naive offloading \(no cache\) \(`naive`\) \| 1\.21 \| 410 \| 1251 \| 0% \|/,
    );
    assert.match(
      rows[3],
      /^\| All experts resident \(`all-resident`\) \| 880 \| 8060 \| 63\.5 \| — \|/,
    );
    assert.match(md, /```sh\nmoe bench --model \/models\/mixtral-2bit/);
  });

  it('escapes pipes in labels so the table stays a table', () => {
    const r = parsed('bench-cpu.json');
    r.variants[0].label = 'a | b';
    assert.match(reportMarkdown(r), /\| a \\\| b \(`cpu`\) \|/);
  });
});

describe('bench header peak bandwidth', () => {
  it('leaves out the figures that were not measured', () => {
    const rows = (name: string) => headerRows(parsed(name)).flatMap((g) => g.rows);
    assert.deepEqual(
      rows('bench-cpu.json').find(([k]) => k === 'Peak bandwidth'),
      ['Peak bandwidth', 'host RAM read 21.4 GB/s'],
    );
    assert.deepEqual(
      rows('bench-cuda-ablate.json').find(([k]) => k === 'Peak bandwidth'),
      ['Peak bandwidth', 'host→GPU 53.2 GB/s · host RAM read 97.8 GB/s'],
    );
  });
});
