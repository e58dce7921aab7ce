// VS Code side of the supervisor: creates it, maps its state to a context key and to an error
// notification with the actions that fix it, restarts it when a restart-requiring setting changes,
// and starts it lazily (at once when inline completions are on, since they need it; otherwise on
// first use). Exposes one handle the features share.
import * as vscode from 'vscode';
import { initializeParams } from '../config/engine-params';
import { describeConfig } from '../config/schema';
import { onConfigChange, readConfig } from '../config/settings';
import { GenerationFacade } from '../engine/facade';
import type { RemoteStatus } from '../engine/remote-backend';
import { launchSidecar, sidecarScriptPath } from './launch';
import { parseSidecarLine } from './sidecar-log';
import { EngineUnavailableError, Supervisor, errorMessage, type FixAction } from './supervisor';

/** SecretStorage key of the remote server's API key (localmoe.setRemoteApiKey). */
export const REMOTE_API_KEY_SECRET = 'localmoe.remote.apiKey';

export interface Engine {
  readonly supervisor: Supervisor;
  /** Completions and chat: the local sidecar, or the remote server when localmoe.remote.url is set. */
  readonly generation: GenerationFacade;
  /** Fires when the remote server's status changes (undefined: back to the local engine). */
  readonly onDidChangeRemoteStatus: vscode.Event<RemoteStatus | undefined>;
  readonly log: vscode.LogOutputChannel;
  showLogs(): void;
  /** Shows why a feature could not use the engine, with the fix buttons; never awaits the user. */
  reportUnavailable(error: unknown): void;
}

const ACTION_LABELS: Record<FixAction, string> = {
  showLogs: 'Show Logs',
  restart: 'Restart',
  selectModel: 'Select Model',
};
const ACTION_COMMANDS: Record<FixAction, string> = {
  showLogs: 'localmoe.showLogs',
  restart: 'localmoe.restartEngine',
  selectModel: 'localmoe.selectModel',
};

function offerActions(message: string, actions: FixAction[]): void {
  // Not awaited: a command that awaits a notification hangs until the user dismisses it.
  void vscode.window
    .showErrorMessage(message, ...actions.map((a) => ACTION_LABELS[a]))
    .then((picked) => {
      const action = actions.find((a) => ACTION_LABELS[a] === picked);
      if (action) void vscode.commands.executeCommand(ACTION_COMMANDS[action]);
    });
}

export function registerEngine(
  context: vscode.ExtensionContext,
  log: vscode.LogOutputChannel,
): Engine {
  const supervisor = new Supervisor({
    launch: () => launchSidecar(sidecarScriptPath(context.extensionPath)),
    initializeParams: () => initializeParams(readConfig(log)),
    log,
    sidecarLog: (line) => {
      const { level, message } = parseSidecarLine(line);
      log[level](`[sidecar] ${message}`);
    },
  });
  context.subscriptions.push(supervisor);

  const remoteStatus = new vscode.EventEmitter<RemoteStatus | undefined>();
  context.subscriptions.push(remoteStatus);
  const generation = new GenerationFacade({
    supervisor,
    remoteSettings: () => readConfig().remote,
    apiKey: async () => context.secrets.get(REMOTE_API_KEY_SECRET),
    onRemoteStatus: (s) => remoteStatus.fire(s),
  });

  const engine: Engine = {
    supervisor,
    generation,
    onDidChangeRemoteStatus: remoteStatus.event,
    log,
    showLogs: () => log.show(true),
    reportUnavailable: (error) => {
      const s = supervisor.state;
      const actions: FixAction[] = s.kind === 'failed' ? s.actions : ['showLogs', 'restart'];
      offerActions(
        error instanceof EngineUnavailableError
          ? error.message
          : `LocalMoE: ${errorMessage(error)}`,
        actions,
      );
    },
  };

  context.subscriptions.push(
    supervisor.onDidChangeState((s) => {
      void vscode.commands.executeCommand(
        'setContext',
        'localmoe.engineRunning',
        s.kind === 'running',
      );
      if (s.kind === 'failed') offerActions(`LocalMoE engine stopped: ${s.reason}`, s.actions);
    }),
    context.secrets.onDidChange((e) => {
      if (e.key === REMOTE_API_KEY_SECRET) void generation.refresh();
    }),
    onConfigChange(log, (change) => {
      if (change.remoteChanged) {
        log.info(
          change.config.remote.url
            ? `remote engine: ${change.config.remote.url}`
            : 'remote engine off: using the local engine',
        );
        void generation.refresh();
      }
      const started = supervisor.state.kind !== 'idle' && supervisor.state.kind !== 'stopped';
      if (change.restartRequired.length && started) {
        log.info(`restarting the engine for: ${change.restartRequired.join(', ')}`);
        supervisor
          .restart()
          .catch((e) => log.error(`restart after settings change failed: ${errorMessage(e)}`));
      }
    }),
  );

  const config = readConfig(log);
  log.info(`effective configuration:\n${describeConfig(config)}`);
  if (config.remote.url) {
    log.info(`remote engine: ${config.remote.url} (the local engine starts only on demand)`);
    void generation.refresh();
  } else if (config.completion.enabled) {
    supervisor.start().catch((e) => log.error(`engine start failed: ${errorMessage(e)}`));
  }
  return engine;
}
