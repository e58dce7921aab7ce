// The benchmark panel's HTML shell. Pure (no `vscode`), with the same Content-Security-Policy as the
// chat view (src/chat/html.ts): only the extension's own script (with the per-load nonce) and
// stylesheet; no inline styles or handlers. The charts are SVG elements built by the script.
import { contentSecurityPolicy, escapeAttr } from '../chat/html';

export interface BenchHtmlParams {
  cspSource: string;
  nonce: string;
  scriptUri: string;
  styleUri: string;
}

export function benchHtml(p: BenchHtmlParams): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(contentSecurityPolicy(p.cspSource, p.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeAttr(p.styleUri)}">
<title>LocalMoE Benchmark</title>
</head>
<body>
<main id="app" aria-label="LocalMoE benchmark results" aria-busy="true">
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
</main>
<script nonce="${escapeAttr(p.nonce)}" src="${escapeAttr(p.scriptUri)}"></script>
</body>
</html>`;
}
