// How a benchmark report is shown: one list of metrics (column label, unit, how to print), the
// header lines (machine / model / settings) and the Markdown export. Pure and browser-safe: the
// webview's table and the "Copy as Markdown" text print from the same list, so they agree.
import { formatBytes } from '../status/format';
import type { BenchReport, BenchVariant } from './report';

export const MISSING = '—';

export interface Metric {
  id: string;
  /** Column header, unit included. */
  label: string;
  get(v: BenchVariant): number | null;
  format(x: number): string;
}

/** Three significant digits for rates, no exponent: 880, 88.0, 8.80, 0.880; large values whole. */
export function formatRate(x: number): string {
  const a = Math.abs(x);
  if (a >= 100) return Math.round(x).toString();
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a === 0) return '0';
  return x.toPrecision(3);
}

export function formatPercent(ratio: number): string {
  return `${(ratio * 100).toFixed(ratio >= 0.995 || ratio === 0 ? 0 : 1)}%`;
}

export { formatBytes };

export const METRICS: readonly Metric[] = [
  { id: 'decode', label: 'decode tok/s', get: (v) => v.decode_tok_s, format: formatRate },
  { id: 'prefill', label: 'prefill tok/s', get: (v) => v.prefill_tok_s, format: formatRate },
  { id: 'ttft', label: 'TTFT ms', get: (v) => v.ttft_ms, format: formatRate },
  { id: 'hit', label: 'cache hit rate', get: (v) => v.cache.hit_rate, format: formatPercent },
  {
    id: 'precision',
    label: 'prefetch precision',
    get: (v) => v.cache.prefetch_precision,
    format: formatPercent,
  },
  {
    id: 'recall',
    label: 'prefetch recall',
    get: (v) => v.cache.prefetch_recall,
    format: formatPercent,
  },
  {
    id: 'misses',
    label: 'misses / token',
    get: (v) => v.cache.misses_per_token,
    format: formatRate,
  },
  {
    id: 'cpuComputed',
    label: 'CPU-computed / token',
    get: (v) => v.cache.cpu_computed_per_token,
    format: formatRate,
  },
  { id: 'copy', label: 'copy GB/s', get: (v) => v.cache.copy_gbps, format: formatRate },
  {
    id: 'copyPeak',
    label: 'copy % of peak',
    get: (v) => v.cache.copy_fraction_of_peak,
    format: formatPercent,
  },
  {
    id: 'transferBound',
    label: 'transfer bound tok/s',
    get: (v) => v.cache.transfer_bound_tok_s,
    format: formatRate,
  },
  { id: 'vram', label: 'VRAM', get: (v) => v.memory.vram_bytes, format: formatBytes },
  { id: 'host', label: 'host RAM', get: (v) => v.memory.host_bytes, format: formatBytes },
];

/** The three figures charted, in the order shown; TTFT is the one where lower is better. */
export const CHARTED = [
  { id: 'decode', title: 'Decode speed', unit: 'tok/s', lowerIsBetter: false },
  { id: 'prefill', title: 'Prefill speed', unit: 'tok/s', lowerIsBetter: false },
  { id: 'ttft', title: 'Time to first token', unit: 'ms', lowerIsBetter: true },
] as const;

export function metric(id: string): Metric {
  const m = METRICS.find((x) => x.id === id);
  if (!m) throw new Error(`unknown benchmark metric ${id}`);
  return m;
}

export function cell(m: Metric, v: BenchVariant): string {
  const x = m.get(v);
  return x === null ? MISSING : m.format(x);
}

/** [label, value] pairs for the header: machine, model, settings. Missing values print as "—". */
export function headerRows(r: BenchReport): { group: string; rows: [string, string][] }[] {
  const or = (x: string | number | null | undefined, f: (y: never) => string = String): string =>
    x === null || x === undefined || x === '' ? MISSING : f(x as never);
  const bytes = (x: number): string => formatBytes(x);
  const m = r.model;
  const s = r.settings;
  return [
    {
      group: 'Machine',
      rows: [
        [
          'CPU',
          `${or(r.machine.cpu)}${r.machine.cpu_threads ? ` (${r.machine.cpu_threads} threads)` : ''}`,
        ],
        ['Host RAM', or(r.machine.host_ram_bytes, bytes)],
        [
          'GPU',
          r.machine.gpu
            ? `${r.machine.gpu}${r.machine.gpu_memory_bytes ? ` (${formatBytes(r.machine.gpu_memory_bytes)})` : ''}`
            : 'none',
        ],
        ['Peak bandwidth', peakText(r)],
      ],
    },
    {
      group: 'Model',
      rows: [
        ['Name', `${m.name}${m.weights ? ` (${m.weights})` : ''}`],
        [
          'Shape',
          `${or(m.layers)} layers, ${or(m.experts)} experts, top-${or(m.experts_per_token)}` +
            (m.expert_bytes !== null ? `, ${formatBytes(m.expert_bytes)} per expert` : ''),
        ],
        ['Folder', or(m.dir)],
      ],
    },
    {
      group: 'Settings',
      rows: [
        ['Device', `${s.device}${s.backend ? ` — ${s.backend}` : ''}`],
        [
          'Workload',
          `prompt ${or(s.prompt_len)} tokens, generate ${or(s.gen)}, ${or(s.repeat)} run(s) per variant (medians)`,
        ],
        ['VRAM budget', or(s.vram_budget_bytes, bytes)],
        ...(s.device === 'cuda' && s.policy !== null
          ? [['Expert cache', cacheSettingsText(s)] as [string, string]]
          : []),
        ['Threads', or(s.threads)],
        ['Run', `${r.created}`],
      ],
    },
    ...(r.notes.length > 0
      ? [{ group: 'Notes', rows: r.notes.map((n, i) => [`${i + 1}`, n] as [string, string]) }]
      : []),
  ];
}

/** "lru, speculative loading 1 layer ahead, 2 guesses" (variants without a cache ignore it). */
function cacheSettingsText(s: BenchReport['settings']): string {
  const ahead =
    s.lookahead === null
      ? ''
      : s.lookahead > 0
        ? `, speculative loading ${s.lookahead} layer${s.lookahead > 1 ? 's' : ''} ahead`
        : ', no speculative loading';
  return `${s.policy}${ahead}${s.guesses !== null ? `, ${s.guesses} guesses` : ''}`;
}

/** "host→GPU 53.2 GB/s · host RAM read 97.8 GB/s"; a figure not measured is left out. */
function peakText(r: BenchReport): string {
  const parts: string[] = [];
  if (r.peak.h2d_gbps !== null) parts.push(`host→GPU ${formatRate(r.peak.h2d_gbps)} GB/s`);
  if (r.peak.host_read_gbps !== null)
    parts.push(`host RAM read ${formatRate(r.peak.host_read_gbps)} GB/s`);
  return parts.length ? parts.join(' · ') : MISSING;
}

const mdEscape = (s: string): string => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

/** The whole report as Markdown: header, one table row per variant, the command line. */
export function reportMarkdown(r: BenchReport): string {
  const lines: string[] = [
    `## LocalMoE benchmark: ${mdEscape(r.model.name)} on ${mdEscape(r.settings.device)}`,
    '',
  ];
  for (const g of headerRows(r)) {
    lines.push(`**${g.group}:** ${g.rows.map(([k, v]) => `${k}: ${mdEscape(v)}`).join('; ')}`, '');
  }
  lines.push(`| variant | ${METRICS.map((m) => m.label).join(' | ')} |`);
  lines.push(`|---|${METRICS.map(() => '---:').join('|')}|`);
  for (const v of r.variants) {
    lines.push(
      `| ${mdEscape(v.label)} (\`${mdEscape(v.name)}\`) | ${METRICS.map((m) => cell(m, v)).join(' | ')} |`,
    );
  }
  if (r.command) lines.push('', '```sh', r.command, '```');
  return `${lines.join('\n')}\n`;
}
