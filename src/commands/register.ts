// The palette commands that are not owned by a feature folder: model selection, engine restart,
// logs, inline-completion toggle, the status-bar action menu and engine info. Commands that need a
// running engine go through `whenRunning`, which says so (with fix buttons) instead of failing.
import * as vscode from 'vscode';
import { REMOTE_API_KEY_SECRET, type Engine } from '../client/engine';
import { errorMessage } from '../client/supervisor';
import { readConfig, updateSetting } from '../config/settings';
import { checkModelFolder } from './model-folder';

function whenRunning(engine: Engine, run: () => Promise<void> | void): () => Promise<void> {
  return async () => {
    if (!engine.supervisor.isRunning) {
      const s = engine.supervisor.state;
      const why = s.kind === 'failed' ? s.reason : s.kind === 'idle' ? 'not started yet' : s.kind;
      const pick = await vscode.window.showWarningMessage(
        `LocalMoE engine is not running (${why}).`,
        'Start',
        'Show Logs',
      );
      if (pick === 'Start') await vscode.commands.executeCommand('localmoe.restartEngine');
      if (pick === 'Show Logs') engine.showLogs();
      return;
    }
    await run();
  };
}

async function selectModel(engine: Engine): Promise<void> {
  const current = readConfig().modelPath;
  const choice = await vscode.window.showQuickPick(
    [
      { label: '$(folder-opened) Choose a model folder…', id: 'folder' },
      {
        label: '$(package) Embedded model',
        description: current === '' ? 'current' : 'small default model',
        id: 'embedded',
      },
    ],
    {
      title: 'LocalMoE: Select Model',
      placeHolder: current ? `Current: ${current}` : 'Current: embedded model',
    },
  );
  if (!choice) return;
  if (choice.id === 'embedded') {
    await updateSetting('modelPath', '');
    engine.log.info('model set to the embedded model');
    return;
  }
  const picked = await vscode.window.showOpenDialog({
    canSelectFolders: true,
    canSelectFiles: false,
    canSelectMany: false,
    openLabel: 'Use this model',
    title: 'Folder with config.json, *.safetensors and tokenizer.json',
  });
  const dir = picked?.[0]?.fsPath;
  if (!dir) return;
  const check = await checkModelFolder(dir);
  if (!check.ok) {
    void vscode.window.showErrorMessage(check.message);
    return;
  }
  for (const w of check.warnings) engine.log.warn(`model folder ${dir}: ${w}`);
  if (check.warnings.length) {
    const go = await vscode.window.showWarningMessage(
      `This folder may not load: ${check.warnings.join('; ')}.`,
      'Use Anyway',
    );
    if (go !== 'Use Anyway') return;
  }
  // The settings listener restarts the engine (modelPath requires a restart).
  await updateSetting('modelPath', dir);
  engine.log.info(`model set to ${dir} (${check.name})`);
}

async function showActions(engine: Engine): Promise<void> {
  const enabled = readConfig().completion.enabled;
  const items: (vscode.QuickPickItem & { command: string })[] = [
    { label: '$(comment-discussion) Open Chat', command: 'localmoe.openChat' },
    {
      label: `$(${enabled ? 'circle-slash' : 'check'}) ${enabled ? 'Disable' : 'Enable'} Inline Completions`,
      command: 'localmoe.toggleInlineCompletions',
    },
    { label: '$(folder-opened) Select Model…', command: 'localmoe.selectModel' },
    { label: '$(file-zip) Quantize Model…', command: 'localmoe.quantizeModel' },
    { label: '$(dashboard) Run Benchmark', command: 'localmoe.runBenchmark' },
    { label: '$(globe) Show Server Info', command: 'localmoe.showServerInfo' },
    { label: '$(debug-restart) Restart Engine', command: 'localmoe.restartEngine' },
    { label: '$(output) Show Logs', command: 'localmoe.showLogs' },
  ];
  if (engine.supervisor.isRunning)
    items.push({ label: '$(info) Show Engine Info', command: 'localmoe.showEngineInfo' });
  const pick = await vscode.window.showQuickPick(items, { title: 'LocalMoE' });
  if (pick) await vscode.commands.executeCommand(pick.command);
}

export function registerCommands(context: vscode.ExtensionContext, engine: Engine): void {
  const reg = (id: string, fn: () => unknown): void => {
    context.subscriptions.push(vscode.commands.registerCommand(id, fn));
  };
  reg('localmoe.selectModel', () => selectModel(engine));
  reg('localmoe.restartEngine', async () => {
    try {
      await engine.supervisor.restart();
      void vscode.window.setStatusBarMessage('LocalMoE engine restarted', 3000);
    } catch (e) {
      engine.log.error(`restart failed: ${errorMessage(e)}`);
      engine.reportUnavailable(e);
    }
  });
  reg('localmoe.showLogs', () => engine.showLogs());
  reg('localmoe.setRemoteApiKey', async () => {
    const key = await vscode.window.showInputBox({
      title: 'LocalMoE: API key of the remote server (localmoe.remote.url)',
      prompt:
        'Sent as "Authorization: Bearer <key>". Stored in the editor\'s secret storage. Empty = remove it.',
      password: true,
      ignoreFocusOut: true,
    });
    if (key === undefined) return;
    // The secrets listener rebuilds the remote client with the new key.
    if (key.trim()) await context.secrets.store(REMOTE_API_KEY_SECRET, key.trim());
    else await context.secrets.delete(REMOTE_API_KEY_SECRET);
    engine.log.info(`remote API key ${key.trim() ? 'stored' : 'removed'}`);
  });
  reg('localmoe.toggleInlineCompletions', async () => {
    const next = !readConfig().completion.enabled;
    await updateSetting('completion.enabled', next);
    engine.log.info(`inline completions ${next ? 'enabled' : 'disabled'}`);
    void vscode.window.setStatusBarMessage(
      `LocalMoE inline completions ${next ? 'on' : 'off'}`,
      3000,
    );
  });
  reg('localmoe.showActions', () => showActions(engine));
  reg(
    'localmoe.showEngineInfo',
    whenRunning(engine, async () => {
      const s = engine.supervisor.state;
      if (s.kind !== 'running') return;
      const m = s.info.model;
      const text = [
        `LocalMoE engine ${s.info.engineVersion} (backends: ${s.info.backends.join(', ')})`,
        `model: ${m.name} — ${m.architecture}, ${m.numLayers} layers, ${m.numExperts} experts, top-${m.expertsPerToken}, ${m.weightDtype}, vocab ${m.vocabSize}`,
        `path: ${m.path || '(embedded)'}; device: ${m.device}; loaded in ${s.info.loadMs} ms`,
      ].join('\n');
      engine.log.info(text);
      engine.showLogs();
    }),
  );
}
