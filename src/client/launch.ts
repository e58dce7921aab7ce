// How the sidecar process is found and started. Node only (no `vscode`): the supervisor's tests use
// it to spawn a fake sidecar.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

/** Env override for the sidecar script, for development and tests (cf. rust-analyzer's __RA_LSP_SERVER_DEBUG). */
export const SIDECAR_PATH_ENV = 'LOCALMOE_SIDECAR_PATH';

export function sidecarScriptPath(
  extensionPath: string,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return env[SIDECAR_PATH_ENV] || path.join(extensionPath, 'dist', 'sidecar.js');
}

/**
 * Spawns `script` with the editor's own Node (Electron in VS Code, hence ELECTRON_RUN_AS_NODE),
 * stdout = JSON-RPC, stderr = logs. Throws an error naming the fix when the script is missing.
 */
export function launchSidecar(script: string): ChildProcessWithoutNullStreams {
  if (!existsSync(script)) {
    throw new Error(
      `LocalMoE sidecar not found at ${script}: the extension is incomplete (run "npm run build"), ` +
        `or ${SIDECAR_PATH_ENV} points to a missing file`,
    );
  }
  return spawn(process.execPath, [script], {
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
    windowsHide: true,
  });
}
