// In-editor: localmoe.server.enabled starts the sidecar's OpenAI-compatible endpoint with the
// token kept in SecretStorage; Show Server Info reports it; turning the setting off stops it.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { LocalMoeApi } from '../../src/extension';
import type { EndpointState } from '../../src/server/serve-plan';

const EXTENSION_ID = 'localmoe.localmoe';

function waitForEndpoint(
  a: LocalMoeApi,
  kind: EndpointState['kind'],
  ms: number,
): Promise<EndpointState> {
  if (a.server.state.kind === kind) return Promise.resolve(a.server.state);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.dispose();
      reject(
        new Error(
          `endpoint "${kind}" not reached in ${ms} ms (now ${JSON.stringify(a.server.state)})`,
        ),
      );
    }, ms);
    const sub = a.server.onDidChange((s) => {
      if (s.kind !== kind) return;
      clearTimeout(timer);
      sub.dispose();
      resolve(s);
    });
  });
}

describe('OpenAI-compatible endpoint setting in the editor', () => {
  let a: LocalMoeApi;
  const cfg = () => vscode.workspace.getConfiguration('localmoe');
  before(async () => {
    const ext = vscode.extensions.getExtension<LocalMoeApi>(EXTENSION_ID);
    assert.ok(ext);
    a = ext.isActive ? ext.exports : await ext.activate();
    if (!a.engine.supervisor.isRunning) await a.engine.supervisor.start();
  });
  after(async () => {
    await cfg().update('server.enabled', undefined, vscode.ConfigurationTarget.Global);
    await cfg().update('server.port', undefined, vscode.ConfigurationTarget.Global);
  });

  it('serves /v1/models with the stored token, keeps the token across restarts, and stops', async function () {
    this.timeout(180_000);
    await cfg().update('server.port', 0, vscode.ConfigurationTarget.Global);
    await cfg().update('server.enabled', true, vscode.ConfigurationTarget.Global);
    const on = await waitForEndpoint(a, 'on', 30_000);
    assert.ok(on.kind === 'on');
    const res = await fetch(`${on.url}/models`, {
      headers: { authorization: `Bearer ${on.token}` },
    });
    assert.equal(res.status, 200);
    const info = await vscode.commands.executeCommand<EndpointState>('localmoe.showServerInfo');
    assert.deepEqual(info, on);

    // After a restart the endpoint comes back by itself, with the same token.
    await vscode.commands.executeCommand('localmoe.restartEngine');
    const again = await waitForEndpoint(a, 'on', 120_000);
    assert.ok(again.kind === 'on');
    assert.equal(again.token, on.token);

    await cfg().update('server.enabled', false, vscode.ConfigurationTarget.Global);
    await waitForEndpoint(a, 'off', 30_000);
    await assert.rejects(fetch(`${again.url}/models`), 'the port is closed');
  });
});
