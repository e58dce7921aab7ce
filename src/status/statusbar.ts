// The status-bar item: re-rendered from one message (supervisor state + the engine's last status)
// whenever either changes. Text, colour and tooltip come from the pure renderStatus().
import * as vscode from 'vscode';
import type { Engine } from '../client/engine';
import { readConfig } from '../config/settings';
import type { ServerHandle } from '../server/register';
import { endpointTooltipLine } from '../server/serve-plan';
import { TOOLTIP_COMMANDS, renderStatus, type Severity, type StatusInput } from './format';
import { renderRemoteStatus } from './remote-format';

const BACKGROUND: Record<Severity, vscode.ThemeColor | undefined> = {
  normal: undefined,
  warning: new vscode.ThemeColor('statusBarItem.warningBackground'),
  error: new vscode.ThemeColor('statusBarItem.errorBackground'),
};

export function registerStatusBar(
  context: vscode.ExtensionContext,
  engine: Engine,
  completionStats?: () => StatusInput['completionStats'],
  server?: ServerHandle,
): vscode.StatusBarItem {
  const item = vscode.window.createStatusBarItem(
    'localmoe.status',
    vscode.StatusBarAlignment.Right,
    100,
  );
  item.name = 'LocalMoE';
  item.command = 'localmoe.showActions';

  const update = (): void => {
    const completionsEnabled = readConfig().completion.enabled;
    const remote = engine.generation.mode === 'remote' ? engine.generation.remoteStatus : undefined;
    const view = remote
      ? renderRemoteStatus(remote, completionsEnabled)
      : renderStatus({
          state: engine.supervisor.state,
          status: engine.supervisor.status,
          completionsEnabled,
          completionStats: completionStats?.(),
          endpoint: server ? endpointTooltipLine(server.state) : undefined,
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
    engine.onDidChangeRemoteStatus(update),
    ...(server ? [server.onDidChange(update)] : []),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('localmoe.completion.enabled')) update();
    }),
  );
  update();
  return item;
}
