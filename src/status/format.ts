// Renders one status message (the supervisor's state + the engine's last status notification) into
// status-bar text, colour and tooltip. Pure: every figure shown comes from the engine's counters in
// the notification; nothing here estimates or invents a number (absent counter = not shown).
import type { EngineStatus, StatusCounters } from '../protocol';
import type { SupervisorState } from '../client/supervisor';

export type Severity = 'normal' | 'warning' | 'error';

export interface StatusView {
  text: string;
  severity: Severity;
  /** Markdown for the tooltip (command links allowed: rendered with those commands trusted). */
  tooltip: string;
}

export interface StatusInput {
  state: SupervisorState;
  status: EngineStatus | undefined;
  completionsEnabled: boolean;
  /** The extension's own inline-completion counters (not engine figures; labelled as such). */
  completionStats?: { shown: number; accepted: number; cacheHits: number };
  /** Markdown line about the OpenAI-compatible endpoint; absent when it is off. */
  endpoint?: string;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export function formatPercent(ratio: number): string {
  return `${Math.round(ratio * 100)}%`;
}

/** "VRAM 10.2/12.0 GiB" on CUDA, "RAM 1.2 GiB" on the CPU (what the engine holds). */
export function formatMemory(
  c: StatusCounters,
  device: 'cpu' | 'cuda' | undefined,
): string | undefined {
  // The engine's VRAM counters (newer addons) are all zero on the CPU: then RAM is the figure.
  if ((device === 'cuda' || c.vram) && c.vramBudgetBytes > 0) {
    return `VRAM ${formatBytes(c.vramUsedBytes).replace(/ \w+$/, '')}/${formatBytes(c.vramBudgetBytes)}`;
  }
  if (c.memoryBytes > 0) return `RAM ${formatBytes(c.memoryBytes)}`;
  return undefined;
}

function countersParts(status: EngineStatus | undefined): string[] {
  const c = status?.counters;
  if (!c) return [];
  const parts: string[] = [];
  const mem = formatMemory(c, status?.model?.device);
  if (mem) parts.push(mem);
  if (c.expertCacheHitRate !== null && c.expertCacheHitRate !== undefined) {
    parts.push(`cache hit ${formatPercent(c.expertCacheHitRate)}`);
  }
  if (c.lastTokensPerSecond > 0) parts.push(`${c.lastTokensPerSecond.toFixed(1)} tok/s`);
  return parts;
}

function headline(input: StatusInput): { icon: string; label: string; severity: Severity } {
  const { state, status } = input;
  switch (state.kind) {
    case 'idle':
      return { icon: '$(circle-outline)', label: 'idle', severity: 'normal' };
    case 'stopped':
      return { icon: '$(circle-slash)', label: 'stopped', severity: 'normal' };
    case 'failed':
      return { icon: '$(error)', label: 'error', severity: 'error' };
    case 'restarting':
      return {
        icon: '$(warning)',
        label: `restarting in ${Math.round(state.delayMs / 1000)}s`,
        severity: 'warning',
      };
    case 'starting':
      if (status?.health === 'loading') {
        const pct = status.progress !== undefined ? ` ${formatPercent(status.progress)}` : '';
        return { icon: '$(loading~spin)', label: `loading${pct}`, severity: 'normal' };
      }
      return { icon: '$(loading~spin)', label: 'starting', severity: 'normal' };
    case 'running':
      if (status?.health === 'busy')
        return { icon: '$(sync~spin)', label: 'generating', severity: 'normal' };
      if (status?.health === 'error')
        return { icon: '$(error)', label: 'error', severity: 'error' };
      if (status?.health === 'loading') {
        const pct = status.progress !== undefined ? ` ${formatPercent(status.progress)}` : '';
        return { icon: '$(loading~spin)', label: `loading${pct}`, severity: 'normal' };
      }
      return { icon: '$(chip)', label: 'ready', severity: 'normal' };
  }
}

/** Per-layer expert usage as a markdown table: each cell is the share of the layer's routed tokens. */
export function expertUsageTable(usage: number[][]): string {
  if (!usage.length || !usage[0].length) return '';
  const experts = usage[0].length;
  const head = `| layer | ${Array.from({ length: experts }, (_, e) => `e${e}`).join(' | ')} |`;
  const sep = `|---|${Array.from({ length: experts }, () => '---:').join('|')}|`;
  const rows = usage.map((row, l) => {
    const total = row.reduce((a, b) => a + b, 0);
    const cells = row.map((n) => (total > 0 ? formatPercent(n / total) : '–'));
    return `| ${l} | ${cells.join(' | ')} |`;
  });
  return [head, sep, ...rows].join('\n');
}

/**
 * Which experts each layer's cache holds, compact: "L0: 1 4 7 – · L1: 0 2 – –" (– = empty slot),
 * `perLine` layers to a line (markdown hard breaks between lines). Empty string without a cache.
 */
export function cacheOccupancy(slots: number[][], perLine = 4): string {
  if (!slots.length || slots.every((l) => !l.length)) return '';
  const layers = slots.map(
    (l, i) => `L${i}: ${l.length ? l.map((e) => (e < 0 ? '–' : String(e))).join(' ') : '–'}`,
  );
  const lines: string[] = [];
  for (let i = 0; i < layers.length; i += perLine)
    lines.push(layers.slice(i, i + perLine).join(' · '));
  return lines.join('  \n');
}

const ms = (v: number): string => (v >= 100 ? `${Math.round(v)} ms` : `${v.toFixed(1)} ms`);

/** Table rows for the newer engine counters (cache, VRAM by use, KV reuse); only those reported. */
export function engineCounterRows(c: StatusCounters): string[] {
  const rows: string[] = [];
  // An engine without an expert cache (CPU, all resident) reports all zeros: nothing to show.
  const k =
    c.cache && (c.cache.hits + c.cache.misses > 0 || c.cache.slots.some((l) => l.length))
      ? c.cache
      : undefined;
  if (k) {
    rows.push(`| expert cache hits / misses | ${k.hits} / ${k.misses} |`);
    if (k.cpuComputed !== undefined)
      rows.push(`| missed experts computed on the CPU | ${k.cpuComputed} |`);
    const { prefetchIssued: issued, prefetchUsed: used, prefetchWasted: wasted } = k;
    if (issued !== undefined && used !== undefined) {
      const precision = issued > 0 ? ` (${formatPercent(used / issued)} used)` : '';
      rows.push(
        `| prefetches issued / used${wasted !== undefined ? ' / wasted' : ''} | ${issued} / ${used}${wasted !== undefined ? ` / ${wasted}` : ''}${precision} |`,
      );
    }
    if (k.bytesCopied !== undefined) {
      // GB/s = the engine's bytes over the engine's copy time (both counters), not an estimate.
      const time = k.copyMs !== undefined ? ` in ${ms(k.copyMs)}` : '';
      const rate =
        k.copyMs !== undefined && k.copyMs > 0
          ? `, ${(k.bytesCopied / k.copyMs / 1e6).toFixed(1)} GB/s`
          : '';
      rows.push(`| expert bytes copied | ${formatBytes(k.bytesCopied)}${time}${rate} |`);
    }
    if (k.computeWaitMs !== undefined)
      rows.push(`| compute waiting for copies | ${ms(k.computeWaitMs)} |`);
  }
  const v = c.vram;
  if (v && (v.budget > 0 || v.dense + v.experts + v.kvCache + v.workspace > 0)) {
    rows.push(
      `| VRAM dense / experts / KV / workspace | ${[v.dense, v.experts, v.kvCache, v.workspace].map(formatBytes).join(' / ')} |`,
    );
  }
  if (c.reusedPromptTokens !== undefined)
    rows.push(`| prompt tokens reused from KV | ${c.reusedPromptTokens} |`);
  if (c.kvSlotEvictions !== undefined) rows.push(`| KV slot evictions | ${c.kvSlotEvictions} |`);
  return rows;
}

function hitRateCell(c: StatusCounters): string {
  if (c.expertCacheHitRate !== null) return formatPercent(c.expertCacheHitRate);
  // A cache that has not been asked yet is not "no cache".
  if (c.cache && c.cache.slots.some((l) => l.length)) return '– (no lookups yet)';
  return 'no cache (all experts resident)';
}

export function renderStatus(input: StatusInput): StatusView {
  const h = headline(input);
  const parts = input.state.kind === 'running' ? countersParts(input.status) : [];
  const text = [
    `${h.icon} LocalMoE${h.label === 'ready' && parts.length ? '' : `: ${h.label}`}`,
    ...parts,
  ].join(' · ');

  const md: string[] = [];
  const s = input.state;
  md.push(`**LocalMoE** — ${h.label}`);
  if (s.kind === 'failed') md.push('', s.reason);
  if (s.kind === 'restarting')
    md.push('', `The engine stopped (${s.reason}); attempt ${s.attempt}.`);
  if (input.status?.message && s.kind !== 'failed') md.push('', input.status.message);
  const model = s.kind === 'running' ? s.info.model : input.status?.model;
  if (model) {
    md.push(
      '',
      `Model: \`${model.name}\` (${model.numLayers} layers, ${model.numExperts} experts, top-${model.expertsPerToken}, ${model.weightDtype}) on ${model.device.toUpperCase()}`,
    );
  }
  const c = input.status?.counters;
  if (c && s.kind === 'running') {
    const rows = [
      `| tokens prompted / generated | ${c.promptTokens} / ${c.generatedTokens} |`,
      `| last decode speed | ${c.lastTokensPerSecond > 0 ? `${c.lastTokensPerSecond.toFixed(2)} tok/s` : '–'} |`,
      `| last time to first token | ${c.lastTtftMs > 0 ? `${Math.round(c.lastTtftMs)} ms` : '–'} |`,
      `| engine memory | ${formatBytes(c.memoryBytes)} |`,
    ];
    if (c.vramBudgetBytes > 0)
      rows.push(
        `| VRAM used / budget | ${formatBytes(c.vramUsedBytes)} / ${formatBytes(c.vramBudgetBytes)} |`,
      );
    rows.push(`| expert cache hit rate | ${hitRateCell(c)} |`);
    rows.push(...engineCounterRows(c));
    md.push('', '| counter | value |', '|---|---|', ...rows);
    const occupancy = cacheOccupancy(c.cache?.slots ?? []);
    if (occupancy) md.push('', 'Expert cache per layer (expert ids held; – empty):', '', occupancy);
    const table = expertUsageTable(c.expertUsage);
    if (table) md.push('', 'Expert usage per layer (share of routed tokens):', '', table);
  }
  const cs = input.completionStats;
  const usage =
    cs && cs.shown > 0
      ? ` — this session: ${cs.accepted} of ${cs.shown} suggestions accepted, ${cs.cacheHits} served from cache`
      : '';
  md.push('', `Inline completions: ${input.completionsEnabled ? 'on' : 'off'}${usage}`);
  if (input.endpoint) md.push('', input.endpoint);
  md.push(
    '',
    '[Actions](command:localmoe.showActions) · [Restart](command:localmoe.restartEngine) · [Logs](command:localmoe.showLogs) · [Chat](command:localmoe.openChat)',
  );
  return { text, severity: h.severity, tooltip: md.join('\n') };
}

/** Commands the tooltip links to; the MarkdownString trusts exactly these. */
export const TOOLTIP_COMMANDS = [
  'localmoe.showActions',
  'localmoe.restartEngine',
  'localmoe.showLogs',
  'localmoe.openChat',
  'localmoe.showServerInfo',
];
