// The benchmark panel's markup, in the shared webview document (src/util/webview-html.ts: the
// same Content-Security-Policy as the chat view). The charts are SVG elements built by the script.
import { webviewDocument, type WebviewHtmlParams } from '../util/webview-html';

export type BenchHtmlParams = WebviewHtmlParams;

export function benchHtml(p: BenchHtmlParams): string {
  return webviewDocument(
    p,
    'LocalMoE Benchmark',
    `<main id="app" aria-label="LocalMoE benchmark results" aria-busy="true">
  <header>
    <h1 id="title">LocalMoE benchmark</h1>
    <div class="actions">
      <button type="button" id="open-json" class="secondary" aria-label="Open the result JSON file">Open JSON</button>
      <button type="button" id="copy-markdown" aria-label="Copy the results as Markdown">Copy as Markdown</button>
    </div>
  </header>
  <p id="subtitle" class="muted"></p>
  <section id="header-info" aria-label="Machine, model and settings"></section>
  <section id="charts" aria-label="Charts (the table below has the same figures)"></section>
  <section aria-labelledby="table-caption">
    <h2 id="table-caption">All figures</h2>
    <div class="table-scroll" tabindex="0" role="region" aria-labelledby="table-caption">
      <table id="bench-table"></table>
    </div>
  </section>
  <p id="command" class="muted"></p>
</main>`,
  );
}
