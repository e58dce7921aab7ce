// The `localmoe.server.*` settings made live: after each sidecar (re)start and on a settings change
// the endpoint is (re)configured with localmoe/serve, always with the token kept in SecretStorage
// (generated once). `localmoe.showServerInfo` shows the URL and copies the token.
import * as vscode from 'vscode';
import type { Engine } from '../client/engine';
import { errorMessage } from '../client/supervisor';
import { readConfig } from '../config/settings';
import { serveRequest } from '../protocol';
import {
  SERVER_TOKEN_SECRET,
  endpointStateOf,
  generateToken,
  serveParamsFor,
  serverInfoMessage,
  type EndpointState,
} from './serve-plan';

export interface ServerHandle {
  readonly state: EndpointState;
  readonly onDidChange: vscode.Event<EndpointState>;
  /** Sends localmoe/serve for the current settings (no-op while the engine is not running). */
  apply(): Promise<void>;
}

async function storedToken(secrets: vscode.SecretStorage): Promise<string> {
  const existing = await secrets.get(SERVER_TOKEN_SECRET);
  if (existing && existing.length >= 16) return existing;
  const token = generateToken();
  await secrets.store(SERVER_TOKEN_SECRET, token);
  return token;
}

export function registerServer(context: vscode.ExtensionContext, engine: Engine): ServerHandle {
  const changed = new vscode.EventEmitter<EndpointState>();
  let state: EndpointState = { kind: 'off' };
  const set = (next: EndpointState): void => {
    state = next;
    changed.fire(next);
  };
  // Serialised: a settings change during a restart must not race the post-start apply.
  let chain: Promise<void> = Promise.resolve();

  const applyNow = async (): Promise<void> => {
    const sup = engine.supervisor;
    const server = readConfig().server;
    if (!sup.isRunning) return;
    // A fresh sidecar starts with the endpoint off: nothing to send when it should stay off.
    if (!server.enabled && state.kind === 'off') return;
    try {
      const token = await storedToken(context.secrets);
      const result = await sup.request(serveRequest, serveParamsFor(server, token));
      set(endpointStateOf(result));
      if (result.enabled) engine.log.info(`OpenAI-compatible endpoint at ${result.url}`);
      else engine.log.info('OpenAI-compatible endpoint stopped');
    } catch (e) {
      const message = errorMessage(e);
      engine.log.error(`localmoe/serve failed: ${message}`);
      set(server.enabled ? { kind: 'failed', message } : { kind: 'off' });
    }
  };
  const apply = (): Promise<void> => (chain = chain.then(applyNow));
  // The endpoint lives in the sidecar: turning it on wakes a lazily-started engine (its 'running'
  // event then sends localmoe/serve).
  const startIfWanted = (): void => {
    if (readConfig().server.enabled && engine.supervisor.state.kind === 'idle') {
      engine.supervisor
        .start()
        .catch((e) => engine.log.error(`engine start for the endpoint failed: ${errorMessage(e)}`));
    }
  };

  context.subscriptions.push(
    changed,
    engine.supervisor.onDidChangeState((s) => {
      if (s.kind === 'running') void apply();
      else if (state.kind !== 'off') set({ kind: 'off' }); // the endpoint lives in the sidecar
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration('localmoe.server')) return;
      startIfWanted();
      void apply();
    }),
    vscode.commands.registerCommand('localmoe.showServerInfo', async () => {
      await chain;
      const message = serverInfoMessage(state, readConfig().server.enabled);
      if (state.kind !== 'on') {
        void vscode.window.showInformationMessage(message, 'Open Settings').then((pick) => {
          if (pick)
            void vscode.commands.executeCommand('workbench.action.openSettings', 'localmoe.server');
        });
        return state;
      }
      const { url, token } = state;
      // Not awaited: a command that awaits a notification hangs until the user dismisses it.
      void vscode.window
        .showInformationMessage(message, 'Copy Token', 'Copy URL')
        .then(async (pick) => {
          if (pick === 'Copy Token') await vscode.env.clipboard.writeText(token);
          if (pick === 'Copy URL') await vscode.env.clipboard.writeText(url);
        });
      return state;
    }),
  );
  if (engine.supervisor.isRunning) void apply();
  else startIfWanted();
  return {
    get state() {
      return state;
    },
    onDidChange: changed.event,
    apply,
  };
}
