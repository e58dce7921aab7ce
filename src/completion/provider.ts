// The only completion file that imports `vscode`: turns document + position into the pure
// completer's request, passes the editor's cancellation token through, and returns an
// InlineCompletionList whose item has an explicit Range. Acceptance is counted through the item's
// command (the stable hook; show/accept events beyond that are proposed API).
import * as vscode from 'vscode';
import type { Engine } from '../client/engine';
import { readConfig } from '../config/settings';
import type { CompleteParams, GenerationResult } from '../protocol';
import type { CancelSignal } from '../util/cancel';
import { InlineCompleter, type CompletionBackend } from './completer';
import { extractContext, windowAfter, windowBefore } from './context';
import type { TimingSummary } from './timing';

export const ACCEPTED_COMMAND = 'localmoe.completionAccepted';
/**
 * Returns the editor-overhead figures (TimingSummary) to a caller, and logs them as one JSON line at
 * info level, which is how the end-to-end test, driving the editor by keys, reads them. Not in the
 * palette.
 */
export const TIMINGS_COMMAND = 'localmoe.completionTimings';

export class LocalMoeInlineProvider implements vscode.InlineCompletionItemProvider {
  constructor(readonly completer: InlineCompleter) {}

  async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionList | undefined> {
    // While the suggest widget is open its selection decides what is inserted; stay out of the way.
    if (context.selectedCompletionInfo) return undefined;
    const cfg = readConfig().completion;
    const cursor = document.offsetAt(position);
    const from = document.positionAt(Math.max(0, cursor - windowBefore(cfg)));
    const to = document.positionAt(cursor + windowAfter(cfg));
    const window = {
      text: document.getText(new vscode.Range(from, to)),
      start: document.offsetAt(from),
    };
    const ctx = extractContext(window, cursor, cfg);
    const outcome = await this.completer.complete(
      {
        context: ctx,
        languageId: document.languageId,
        fileName: vscode.workspace.asRelativePath(document.uri),
      },
      token,
    );
    if (outcome.text === undefined || token.isCancellationRequested) return undefined;
    const item = new vscode.InlineCompletionItem(
      outcome.text,
      new vscode.Range(position, position),
      {
        title: 'Accept LocalMoE completion',
        command: ACCEPTED_COMMAND,
      },
    );
    const list = new vscode.InlineCompletionList([item]);
    this.completer.delivered(outcome);
    return list;
  }
}

export function registerInlineCompletions(
  context: vscode.ExtensionContext,
  engine: Engine,
): LocalMoeInlineProvider {
  const backend: CompletionBackend = {
    // Local: lazy start (the first request wakes the engine and returns nothing); remote: health.
    isReady: () => engine.generation.isReady(),
    complete: (params: CompleteParams, signal: CancelSignal): Promise<GenerationResult> =>
      engine.generation.complete(params, signal),
  };
  const completer = new InlineCompleter(backend, () => readConfig().completion, engine.log);
  const provider = new LocalMoeInlineProvider(completer);
  context.subscriptions.push(
    vscode.languages.registerInlineCompletionItemProvider({ pattern: '**' }, provider),
    vscode.commands.registerCommand(TIMINGS_COMMAND, (): TimingSummary => {
      const summary = completer.timings.summary();
      engine.log.info(`completion timings: ${JSON.stringify(summary)}`);
      return summary;
    }),
    vscode.commands.registerCommand(ACCEPTED_COMMAND, () => {
      completer.accepted();
      const s = completer.stats;
      engine.log.debug(
        `completion accepted (${s.accepted}/${s.shown} shown, ${s.cacheHits} cache hits)`,
      );
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      // A suggestion cached under other settings (length, multi-line policy) must not come back.
      if (
        e.affectsConfiguration('localmoe.completion') ||
        e.affectsConfiguration('localmoe.modelPath') ||
        e.affectsConfiguration('localmoe.remote')
      ) {
        completer.cache.clear();
      }
    }),
    engine.supervisor.onDidChangeState((s) => {
      if (s.kind === 'running') completer.cache.clear(); // a new model answers differently
    }),
  );
  return provider;
}
