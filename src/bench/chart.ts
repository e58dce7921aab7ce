// Geometry of a horizontal bar chart: one bar per benchmark variant, label on the left, value on the
// right. Pure numbers and strings (no DOM): the webview turns the result into SVG elements, and the
// unit tests check the layout. Linear scale from 0 to the largest value; a missing value (null) has
// no bar and prints "—"; a positive value never shrinks below one pixel, so it stays visible.

export interface BarDatum {
  label: string;
  value: number | null;
}

export interface ChartLayout {
  /** Whole chart in SVG user units (the SVG scales to its container through its viewBox). */
  width: number;
  /** Left column for the labels, right column for the values. */
  labelWidth: number;
  valueWidth: number;
  rowHeight: number;
  gap: number;
}

export interface BarGeometry {
  label: string;
  value: number | null;
  valueText: string;
  /** The bar's rectangle. */
  x: number;
  y: number;
  width: number;
  height: number;
  /** Baselines of the label (right-aligned at labelX) and of the value text (left-aligned at valueX). */
  labelX: number;
  valueX: number;
  textY: number;
}

export interface ChartGeometry {
  width: number;
  height: number;
  /** Largest value charted (0 when none); bars are value / max of the plot width. */
  max: number;
  plotX: number;
  plotWidth: number;
  bars: BarGeometry[];
}

export const DEFAULT_LAYOUT: ChartLayout = {
  width: 600,
  labelWidth: 200,
  valueWidth: 80,
  rowHeight: 20,
  gap: 6,
};

const PAD = 8;

export function barChart(
  data: readonly BarDatum[],
  format: (x: number) => string,
  layout: ChartLayout = DEFAULT_LAYOUT,
): ChartGeometry {
  const values = data
    .map((d) => d.value)
    .filter((v): v is number => v !== null && Number.isFinite(v) && v > 0);
  const max = values.length ? Math.max(...values) : 0;
  const plotX = layout.labelWidth + PAD;
  const plotWidth = Math.max(1, layout.width - plotX - PAD - layout.valueWidth);
  const bars = data.map((d, i): BarGeometry => {
    const y = layout.gap + i * (layout.rowHeight + layout.gap);
    const ok = d.value !== null && Number.isFinite(d.value);
    const raw =
      ok && max > 0 && (d.value as number) > 0 ? ((d.value as number) / max) * plotWidth : 0;
    const width = raw > 0 ? Math.max(1, raw) : 0;
    return {
      label: d.label,
      value: ok ? d.value : null,
      valueText: ok ? format(d.value as number) : '—',
      x: plotX,
      y,
      width: round(width),
      height: layout.rowHeight,
      labelX: layout.labelWidth,
      valueX: round(plotX + width + PAD / 2),
      textY: round(y + layout.rowHeight * 0.7),
    };
  });
  return {
    width: layout.width,
    height: layout.gap + data.length * (layout.rowHeight + layout.gap),
    max,
    plotX,
    plotWidth,
    bars,
  };
}

/** Shortens a label to `max` characters with an ellipsis (the full one goes in a <title>). */
export function clip(label: string, max = 30): string {
  return label.length <= max ? label : `${label.slice(0, max - 1)}…`;
}

/** One sentence for screen readers: "Decode speed (tok/s): naive 1.21, lru 2.41; higher is better." */
export function chartSummary(
  title: string,
  unit: string,
  bars: readonly BarGeometry[],
  lowerIsBetter: boolean,
): string {
  const items = bars.map((b) => `${b.label} ${b.valueText}`).join(', ');
  return `${title} (${unit}) by variant: ${items || 'no variants'}; ${lowerIsBetter ? 'lower' : 'higher'} is better.`;
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}
