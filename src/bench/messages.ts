// Messages between the benchmark results panel and the extension, both ways; imported by
// src/bench/panel.ts and webview/bench/main.ts so both sides compile against one union.
import type { BenchReport } from './report';

export type ToBenchWebview = {
  type: 'show';
  report: BenchReport;
  /** File name of the saved JSON, for display. */
  fileName: string;
};

export type FromBenchWebview = { type: 'ready' } | { type: 'openJson' } | { type: 'copyMarkdown' };

/** The webview is ours, but treat what it posts as untrusted: unknown shapes are dropped. */
export function parseFromBenchWebview(raw: unknown): FromBenchWebview | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const t = (raw as Record<string, unknown>).type;
  return t === 'ready' || t === 'openJson' || t === 'copyMarkdown' ? { type: t } : undefined;
}
