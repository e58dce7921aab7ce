// Entry point: a table of contents. Each feature folder registers itself; activation shows a
// start failure itself (VS Code would only log it). The returned API is for the in-editor tests.
import * as vscode from 'vscode';
import { registerBench } from './bench/commands';
import type { BenchPanel } from './bench/panel';
import { registerChat, type ChatViewProvider } from './chat/view';
import { registerEngine, type Engine } from './client/engine';
import { registerQuantizeCommand } from './commands/quantize';
import { registerCommands } from './commands/register';
import { registerInlineCompletions, type LocalMoeInlineProvider } from './completion/provider';
import { registerServer, type ServerHandle } from './server/register';
import { registerStatusBar } from './status/statusbar';

export interface LocalMoeApi {
  engine: Engine;
  chat: ChatViewProvider;
  completion: LocalMoeInlineProvider;
  server: ServerHandle;
  bench: BenchPanel;
}

let engine: Engine | undefined;

export function activate(context: vscode.ExtensionContext): LocalMoeApi {
  const log = vscode.window.createOutputChannel('LocalMoE', { log: true });
  context.subscriptions.push(log);
  try {
    engine = registerEngine(context, log);
    registerCommands(context, engine);
    registerQuantizeCommand(context, engine);
    const completion = registerInlineCompletions(context, engine);
    const server = registerServer(context, engine);
    registerStatusBar(context, engine, () => completion.completer.stats, server);
    const chat = registerChat(context, engine);
    const bench = registerBench(context, engine);
    return { engine, chat, completion, server, bench };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    log.error(`activation failed: ${message}`);
    void vscode.window
      .showErrorMessage(`LocalMoE failed to start: ${message}`, 'Show Logs')
      .then((p) => {
        if (p) log.show();
      });
    throw e;
  }
}

/** Awaited by VS Code: the sidecar gets its shutdown request and a short grace before a kill. */
export async function deactivate(): Promise<void> {
  await engine?.supervisor.stop();
  engine = undefined;
}
