// The benchmark results panel (a WebviewPanel, one at a time: a new result replaces the shown one).
// HTML with a strict CSP and a per-load nonce, a typed handler per message from the webview; the
// report is re-sent whenever the webview (re)loads. Open JSON opens the saved file; Copy as Markdown
// puts src/bench/format.ts's export on the clipboard.
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { makeNonce } from '../util/webview-html';
import { reportMarkdown } from './format';
import { benchHtml } from './html';
import { parseFromBenchWebview, type FromBenchWebview, type ToBenchWebview } from './messages';
import type { BenchReport } from './report';

export const BENCH_PANEL_TYPE = 'localmoe.bench';

type Handlers = {
  [K in FromBenchWebview['type']]: () => Thenable<unknown> | void;
};

export class BenchPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private shown: { report: BenchReport; file: string } | undefined;
  private readonly posted = new vscode.EventEmitter<ToBenchWebview>();
  /** Every message sent to the webview (the in-editor tests observe it). */
  readonly onDidPostMessage = this.posted.event;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  get current(): { report: BenchReport; file: string } | undefined {
    return this.shown;
  }

  /** Shows `report` (saved at `file`) in the panel, creating or revealing it. */
  show(report: BenchReport, file: string): void {
    this.shown = { report, file };
    if (this.panel) {
      this.panel.title = `Benchmark: ${report.model.name}`;
      this.panel.reveal(undefined, false);
      this.postReport();
      return;
    }
    const dist = vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview');
    const panel = vscode.window.createWebviewPanel(
      BENCH_PANEL_TYPE,
      `Benchmark: ${report.model.name}`,
      { viewColumn: vscode.ViewColumn.Active, preserveFocus: false },
      { enableScripts: true, localResourceRoots: [dist] },
    );
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'bench.svg');
    panel.webview.html = benchHtml({
      cspSource: panel.webview.cspSource,
      nonce: makeNonce((n) => randomBytes(n)),
      scriptUri: panel.webview.asWebviewUri(vscode.Uri.joinPath(dist, 'bench.js')).toString(),
      styleUri: panel.webview.asWebviewUri(vscode.Uri.joinPath(dist, 'bench.css')).toString(),
    });
    const sub = panel.webview.onDidReceiveMessage((raw: unknown) => void this.handleMessage(raw));
    panel.onDidDispose(() => {
      sub.dispose();
      if (this.panel === panel) this.panel = undefined;
    });
    this.panel = panel;
  }

  /** Entry point for every message from the webview (public so tests can drive it). */
  async handleMessage(raw: unknown): Promise<void> {
    const message = parseFromBenchWebview(raw);
    if (!message) {
      this.log.warn(
        `bench: dropped malformed webview message ${JSON.stringify(raw)?.slice(0, 200)}`,
      );
      return;
    }
    await this.handlers[message.type]();
  }

  private readonly handlers: Handlers = {
    ready: () => this.postReport(),
    openJson: async () => {
      if (!this.shown) return;
      const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(this.shown.file));
      await vscode.window.showTextDocument(doc, {
        preview: true,
        viewColumn: vscode.ViewColumn.Beside,
      });
    },
    copyMarkdown: async () => {
      if (!this.shown) return;
      await vscode.env.clipboard.writeText(reportMarkdown(this.shown.report));
      void vscode.window.setStatusBarMessage('LocalMoE: benchmark copied as Markdown', 3000);
    },
  };

  private postReport(): void {
    if (!this.shown) return;
    const message: ToBenchWebview = {
      type: 'show',
      report: this.shown.report,
      fileName: path.basename(this.shown.file),
    };
    this.posted.fire(message);
    void this.panel?.webview.postMessage(message);
  }

  dispose(): void {
    this.panel?.dispose();
    this.posted.dispose();
  }
}
