// The chat WebviewView: HTML with a strict CSP, a typed handler per message type from the
// webview, a ChatSession per workspace (history in workspaceState), the current selection or file
// offered as context, and the engine's availability shown in the view.
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { Engine } from '../client/engine';
import { EngineUnavailableError, errorMessage } from '../client/supervisor';
import { readConfig } from '../config/settings';
import type { ChatParams, GenerationResult } from '../protocol';
import type { CancelSignal } from '../util/cancel';
import { chatHtml, makeNonce } from './html';
import {
  parseFromWebview,
  type ChatTurn,
  type ContextOffer,
  type EngineAvailability,
  type FromWebview,
  type ToWebview,
} from './messages';
import { ChatSession, type AttachedContext, type ChatBackend } from './session';

export const CHAT_VIEW_ID = 'localmoe.chat';
/** Longest selection/file text attached as context. */
const MAX_CONTEXT_CHARS = 8000;

/** Output panels and the like are editors too; they are not what the user wants to chat about. */
function isCodeEditor(editor: vscode.TextEditor): boolean {
  return !['output', 'debug', 'vscode-scm', 'comment'].includes(editor.document.uri.scheme);
}

type Handlers = {
  [K in FromWebview['type']]: (m: Extract<FromWebview, { type: K }>) => Thenable<unknown> | void;
};

export class ChatViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  private view: vscode.WebviewView | undefined;
  private lastEditor: vscode.TextEditor | undefined = vscode.window.activeTextEditor;
  /** The exchange being generated, replayed to a webview that (re)loads meanwhile. */
  private pending: { user: ChatTurn; partial: string } | undefined;
  private lastOfferKey = '';
  private readonly posted = new vscode.EventEmitter<ToWebview>();
  private readonly disposables: vscode.Disposable[] = [this.posted];
  readonly session: ChatSession;
  /** Every message sent to the webview (the in-editor tests observe the round trip here). */
  readonly onDidPostMessage = this.posted.event;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly engine: Engine,
    workspaceState: vscode.Memento,
  ) {
    const backend: ChatBackend = {
      chat: async (params: ChatParams, onDelta, signal: CancelSignal): Promise<GenerationResult> =>
        engine.generation.chat(params, onDelta, signal),
    };
    this.session = new ChatSession(workspaceState, backend, () => readConfig().chat);
    this.disposables.push(
      vscode.window.onDidChangeActiveTextEditor((e) => {
        if (e && isCodeEditor(e)) this.lastEditor = e;
        this.postOffer();
      }),
      vscode.window.onDidChangeTextEditorSelection((e) => {
        if (!isCodeEditor(e.textEditor)) return;
        this.lastEditor = e.textEditor;
        this.postOffer();
      }),
      engine.supervisor.onDidChangeState(() => this.postEngine()),
    );
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    const dist = vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview');
    view.webview.options = { enableScripts: true, localResourceRoots: [dist] };
    view.webview.html = chatHtml({
      cspSource: view.webview.cspSource,
      nonce: makeNonce((n) => randomBytes(n)),
      scriptUri: view.webview.asWebviewUri(vscode.Uri.joinPath(dist, 'chat.js')).toString(),
      styleUri: view.webview.asWebviewUri(vscode.Uri.joinPath(dist, 'chat.css')).toString(),
    });
    const sub = view.webview.onDidReceiveMessage((raw: unknown) => void this.handleMessage(raw));
    view.onDidDispose(() => {
      sub.dispose();
      if (this.view === view) this.view = undefined;
    });
  }

  /** Entry point for every message from the webview (public so tests can drive it). */
  async handleMessage(raw: unknown): Promise<void> {
    const message = parseFromWebview(raw);
    if (!message) {
      this.engine.log.warn(
        `chat: dropped malformed webview message ${JSON.stringify(raw)?.slice(0, 200)}`,
      );
      return;
    }
    const handler = this.handlers[message.type] as (m: FromWebview) => Thenable<unknown> | void;
    await handler(message);
  }

  private readonly handlers: Handlers = {
    ready: () => {
      const offer = this.offer();
      this.lastOfferKey = JSON.stringify(offer);
      this.post({
        type: 'init',
        turns: [...this.session.turns],
        offer,
        ...this.availability(),
      });
      if (this.pending) {
        this.post({ type: 'userTurn', turn: this.pending.user });
        this.post({ type: 'assistantStart' });
        if (this.pending.partial)
          this.post({ type: 'assistantDelta', delta: this.pending.partial });
      }
    },
    send: (m) => this.send(m.text, m.includeContext),
    stop: () => this.session.stop(),
    newChat: () => this.newChat(),
    copyCode: async (m) => {
      await vscode.env.clipboard.writeText(m.code);
      void vscode.window.setStatusBarMessage('LocalMoE: code copied', 2000);
    },
    insertCode: async (m) => {
      const editor = this.lastEditor;
      if (!editor || editor.document.isClosed) {
        void vscode.window.showWarningMessage('LocalMoE: open an editor to insert the code into.');
        return;
      }
      await editor.edit((b) => b.replace(editor.selection, m.code));
      await vscode.window.showTextDocument(editor.document, editor.viewColumn);
    },
    newFileWithCode: async (m) => {
      const doc = await vscode.workspace.openTextDocument({
        content: m.code,
        language: m.language || undefined,
      });
      await vscode.window.showTextDocument(doc);
    },
    restartEngine: () => vscode.commands.executeCommand('localmoe.restartEngine'),
    showLogs: () => this.engine.showLogs(),
  };

  async newChat(): Promise<void> {
    await this.session.clear();
    this.post({ type: 'cleared' });
  }

  /** Reveals the view (for the Open Chat command). */
  async reveal(): Promise<void> {
    await vscode.commands.executeCommand(`${CHAT_VIEW_ID}.focus`);
  }

  private async send(text: string, includeContext: boolean): Promise<void> {
    if (this.session.busy) {
      this.post({
        type: 'error',
        message: 'An answer is still being generated: press Stop first.',
      });
      return;
    }
    const context = includeContext ? this.attachedContext() : undefined;
    const user: ChatTurn = { role: 'user', text, contextLabel: context?.label };
    const pending = { user, partial: '' };
    this.pending = pending;
    this.post({ type: 'userTurn', turn: user });
    this.post({ type: 'assistantStart' });
    try {
      // Lazy start: the first chat message starts the engine and waits for the model to load.
      if (this.engine.supervisor.state.kind === 'idle') this.postEngine('starting');
      const { assistant } = await this.session.send(text, context, (delta) => {
        pending.partial += delta;
        this.post({ type: 'assistantDelta', delta });
      });
      this.post({ type: 'assistantEnd', turn: assistant });
    } catch (e) {
      this.engine.log.error(`chat request failed: ${errorMessage(e)}`);
      this.post({ type: 'error', message: errorMessage(e) });
      // The answer's error shows in the view; an engine that is down also gets the fix buttons.
      if (e instanceof EngineUnavailableError) this.engine.reportUnavailable(e);
    } finally {
      this.pending = undefined;
      this.postEngine();
    }
  }

  private attachedContext(): AttachedContext | undefined {
    const editor = this.lastEditor;
    if (!editor || editor.document.isClosed) return undefined;
    const doc = editor.document;
    const name = vscode.workspace.asRelativePath(doc.uri);
    const sel = editor.selection;
    if (!sel.isEmpty) {
      return {
        label: `${name}:${sel.start.line + 1}-${sel.end.line + 1}`,
        languageId: doc.languageId,
        text: doc.getText(sel).slice(0, MAX_CONTEXT_CHARS),
      };
    }
    return {
      label: name,
      languageId: doc.languageId,
      text: doc.getText().slice(0, MAX_CONTEXT_CHARS),
    };
  }

  private offer(): ContextOffer | null {
    const editor = this.lastEditor;
    if (!editor || editor.document.isClosed) return null;
    const name = vscode.workspace.asRelativePath(editor.document.uri);
    const sel = editor.selection;
    return sel.isEmpty
      ? { kind: 'file', label: name }
      : { kind: 'selection', label: `${name}:${sel.start.line + 1}-${sel.end.line + 1}` };
  }

  private availability(forced?: EngineAvailability): {
    engine: EngineAvailability;
    engineMessage: string;
  } {
    // Remote mode: the server's health shows in the status bar; a failed request shows its error here.
    if (this.engine.generation.mode === 'remote') return { engine: 'ready', engineMessage: '' };
    const s = this.engine.supervisor.state;
    if (forced === 'starting' || s.kind === 'starting')
      return { engine: 'starting', engineMessage: 'Loading the model…' };
    if (s.kind === 'restarting')
      return { engine: 'starting', engineMessage: 'The engine is restarting after a crash…' };
    if (s.kind === 'failed')
      return { engine: 'unavailable', engineMessage: `Engine not running: ${s.reason}` };
    if (s.kind === 'stopped') return { engine: 'unavailable', engineMessage: 'Engine stopped.' };
    // idle: starts on the first message; nothing to warn about.
    return { engine: 'ready', engineMessage: '' };
  }

  private postOffer(): void {
    // Selection events fire on every cursor move; tell the webview only when the offer changes.
    const offer = this.offer();
    const key = JSON.stringify(offer);
    if (key === this.lastOfferKey) return;
    this.lastOfferKey = key;
    this.post({ type: 'offer', offer });
  }

  private postEngine(forced?: EngineAvailability): void {
    this.post({ type: 'engine', ...this.availability(forced) });
  }

  /** Sends one message to the webview (and to onDidPostMessage listeners). */
  post(message: ToWebview): void {
    this.posted.fire(message);
    void this.view?.webview.postMessage(message);
  }

  dispose(): void {
    this.session.stop();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

export function registerChat(context: vscode.ExtensionContext, engine: Engine): ChatViewProvider {
  const provider = new ChatViewProvider(context.extensionUri, engine, context.workspaceState);
  context.subscriptions.push(
    provider,
    vscode.window.registerWebviewViewProvider(CHAT_VIEW_ID, provider, {
      webviewOptions: { retainContextWhenHidden: true },
    }),
    vscode.commands.registerCommand('localmoe.openChat', () => provider.reveal()),
    vscode.commands.registerCommand('localmoe.newChat', async () => {
      await provider.newChat();
      await provider.reveal();
    }),
  );
  return provider;
}
