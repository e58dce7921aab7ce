// Reads the live `localmoe.*` settings (never cached: each call sees the current values) and
// reports changes, with the restart-requiring ones named.
import * as vscode from 'vscode';
import {
  describeConfig,
  normalizeConfig,
  restartRequiredChanges,
  type LocalMoeConfig,
} from './schema';

export const SECTION = 'localmoe';

export function readConfig(log?: vscode.LogOutputChannel): LocalMoeConfig {
  const cfg = vscode.workspace.getConfiguration(SECTION);
  const { config, problems } = normalizeConfig((key) => cfg.get(key));
  for (const p of problems) log?.warn(`setting ignored: ${p}`);
  return config;
}

export interface ConfigChange {
  config: LocalMoeConfig;
  /** Full names of changed settings that need a sidecar restart. */
  restartRequired: string[];
  /** localmoe.remote.* changed (the generation facade rebuilds its remote side). */
  remoteChanged: boolean;
}

/** Calls `listener` after a `localmoe.*` change, and logs the effective configuration. */
export function onConfigChange(
  log: vscode.LogOutputChannel,
  listener: (change: ConfigChange) => void,
): vscode.Disposable {
  let last = readConfig(log);
  return vscode.workspace.onDidChangeConfiguration((e) => {
    if (!e.affectsConfiguration(SECTION)) return;
    const next = readConfig(log);
    const restartRequired = restartRequiredChanges(last, next);
    const remoteChanged =
      last.remote.url !== next.remote.url || last.remote.model !== next.remote.model;
    last = next;
    log.info(`configuration changed; effective configuration:\n${describeConfig(next)}`);
    listener({ config: next, restartRequired, remoteChanged });
  });
}

export async function updateSetting(key: string, value: unknown): Promise<void> {
  await vscode.workspace
    .getConfiguration(SECTION)
    .update(key, value, vscode.ConfigurationTarget.Global);
}
