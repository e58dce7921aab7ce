// The status-bar item: re-rendered from one message (supervisor state + the engine's last status)
// whenever either changes. Text, colour and tooltip come from the pure renderStatus().
import * as vscode from 'vscode';
import type { Engine } from '../client/engine';
import { readConfig } from '../config/settings';
import { TOOLTIP_COMMANDS, renderStatus, type Severity, type StatusInput } from './format';

const BACKGROUND: Record<Severity, vscode.ThemeColor | undefined> = {
  normal: undefined,
  warning: new vscode.ThemeColor('statusBarItem.warningBackground'),
  error: new vscode.ThemeColor('statusBarItem.errorBackground'),
};

export function registerStatusBar(
  context: vscode.ExtensionContext,
  engine: Engine,
  completionStats?: () => StatusInput['completionStats'],
): vscode.StatusBarItem {
  const item = vscode.window.createStatusBarItem(
    'localmoe.status',
    vscode.StatusBarAlignment.Right,
    100,
  );
  item.name = 'LocalMoE';
  item.command = 'localmoe.showActions';

  const update = (): void => {
    const view = renderStatus({
      state: engine.supervisor.state,
      status: engine.supervisor.status,
      completionsEnabled: readConfig().completion.enabled,
      completionStats: completionStats?.(),
    });
    item.text = view.text;
    item.backgroundColor = BACKGROUND[view.severity];
    const tooltip = new vscode.MarkdownString(view.tooltip, true);
    tooltip.isTrusted = { enabledCommands: TOOLTIP_COMMANDS };
    item.tooltip = tooltip;
    item.accessibilityInformation = {
      label: view.text.replace(/\$\([^)]*\)\s*/g, ''),
      role: 'button',
    };
    item.show();
  };

  context.subscriptions.push(
    item,
    engine.supervisor.onDidChangeState(update),
    engine.supervisor.onDidChangeStatus(update),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('localmoe.completion.enabled')) update();
    }),
  );
  update();
  return item;
}
