// The benchmark panel's script: renders a report (src/bench/report.ts) as a header, three small bar
// charts (decode tok/s, prefill tok/s, TTFT ms) and a table of every figure. Text goes into the DOM
// with textContent only; the charts are SVG elements created one by one from the pure geometry of
// src/bench/chart.ts. The table is the accessible form of the charts.
import './bench.css';
import { barChart, chartSummary, clip } from '../../src/bench/chart';
import { CHARTED, METRICS, cell, headerRows, metric } from '../../src/bench/format';
import type { FromBenchWebview, ToBenchWebview } from '../../src/bench/messages';
import type { BenchReport } from '../../src/bench/report';

interface VsCodeApi {
  postMessage(message: FromBenchWebview): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const SVG = 'http://www.w3.org/2000/svg';
const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  text?: string,
  className?: string,
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className) e.className = className;
  return e;
}

function svg(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function renderHeader(r: BenchReport): void {
  const box = $('header-info');
  box.replaceChildren();
  for (const g of headerRows(r)) {
    const section = el('div', undefined, 'info-group');
    section.append(el('h2', g.group));
    const dl = el('dl');
    for (const [k, v] of g.rows) dl.append(el('dt', k), el('dd', v));
    section.append(dl);
    box.append(section);
  }
}

function renderCharts(r: BenchReport): void {
  const box = $('charts');
  box.replaceChildren();
  CHARTED.forEach((c, i) => {
    const m = metric(c.id);
    const geo = barChart(
      r.variants.map((v) => ({ label: v.label, value: m.get(v) })),
      m.format,
    );
    const figure = el('figure', undefined, 'chart');
    const captionId = `chart-title-${i}`;
    const caption = el('figcaption', `${c.title} (${c.unit})`);
    caption.id = captionId;
    caption.append(el('span', c.lowerIsBetter ? ' lower is better' : ' higher is better', 'muted'));
    const root = svg('svg', {
      viewBox: `0 0 ${geo.width} ${geo.height}`,
      // Drawn at its own size (text the same size in every chart), shrunk only to fit.
      width: geo.width,
      height: geo.height,
      role: 'img',
      'aria-label': chartSummary(c.title, c.unit, geo.bars, c.lowerIsBetter),
      class: `bars metric-${c.id}`,
      'data-metric': c.id,
    });
    root.append(svg('title', {}, chartSummary(c.title, c.unit, geo.bars, c.lowerIsBetter)));
    root.append(
      svg('line', { x1: geo.plotX, y1: 0, x2: geo.plotX, y2: geo.height, class: 'axis' }),
    );
    geo.bars.forEach((b, j) => {
      const g = svg('g', { class: `bar-row series-${j % 6}` });
      g.append(svg('title', {}, `${b.label}: ${b.valueText} ${c.unit}`));
      g.append(
        svg(
          'text',
          { x: b.labelX, y: b.textY, class: 'label', 'text-anchor': 'end' },
          clip(b.label),
        ),
      );
      if (b.width > 0)
        g.append(
          svg('rect', { x: b.x, y: b.y, width: b.width, height: b.height, rx: 2, class: 'bar' }),
        );
      g.append(
        svg(
          'text',
          { x: b.valueX, y: b.textY, class: b.value === null ? 'value missing' : 'value' },
          b.valueText,
        ),
      );
      root.append(g);
    });
    figure.setAttribute('aria-labelledby', captionId);
    figure.append(caption, root);
    box.append(figure);
  });
}

function renderTable(r: BenchReport): void {
  const table = $<HTMLTableElement>('bench-table');
  table.replaceChildren();
  const caption = el(
    'caption',
    `${r.variants.length} variant(s) × ${METRICS.length} figures; — = not measured for this variant`,
  );
  const thead = el('thead');
  const head = el('tr');
  const corner = el('th', 'variant');
  corner.scope = 'col';
  head.append(corner);
  for (const m of METRICS) {
    const th = el('th', m.label);
    th.scope = 'col';
    th.dataset.metric = m.id;
    head.append(th);
  }
  thead.append(head);
  const tbody = el('tbody');
  for (const v of r.variants) {
    const tr = el('tr');
    tr.dataset.variant = v.name;
    const th = el('th', v.label);
    th.scope = 'row';
    th.title = v.name;
    tr.append(th);
    for (const m of METRICS) {
      const td = el('td', cell(m, v), 'num');
      td.dataset.metric = m.id;
      if (m.get(v) === null) {
        td.classList.add('missing');
        td.setAttribute('aria-label', 'not measured');
      }
      tr.append(td);
    }
    tbody.append(tr);
  }
  table.append(caption, thead, tbody);
}

function render(m: ToBenchWebview): void {
  const r = m.report;
  $('title').textContent = `LocalMoE benchmark: ${r.model.name}`;
  $('subtitle').textContent = `${r.settings.device.toUpperCase()} · ${r.created} · ${m.fileName}`;
  renderHeader(r);
  renderCharts(r);
  renderTable(r);
  $('command').textContent = r.command ? `Command: ${r.command}` : '';
  $('app').setAttribute('aria-busy', 'false');
  vscode.setState(m);
}

window.addEventListener('message', (e: MessageEvent<ToBenchWebview>) => {
  if (e.data?.type === 'show') render(e.data);
});
$('open-json').addEventListener('click', () => vscode.postMessage({ type: 'openJson' }));
$('copy-markdown').addEventListener('click', () => vscode.postMessage({ type: 'copyMarkdown' }));

const saved = vscode.getState() as ToBenchWebview | undefined;
if (saved?.type === 'show') render(saved);
vscode.postMessage({ type: 'ready' });
