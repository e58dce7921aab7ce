// In-editor: Quantize Model… run through the real command (arguments skip the pickers), the real
// sidecar and the embedded model shipped with the extension; the result can become the model.
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { LocalMoeApi } from '../../src/extension';
import type { QuantizeResult } from '../../src/protocol';

const EXTENSION_ID = 'localmoe.localmoe';

/** Resolves once the engine runs a model from outside `dir` (polled: restarts pass several states). */
async function engineOffFolder(a: LocalMoeApi, dir: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const s = a.engine.supervisor.state;
    if (s.kind === 'running' && !s.info.model.path.startsWith(dir)) return;
    if (s.kind === 'idle' || s.kind === 'stopped') return;
    if (Date.now() > deadline)
      throw new Error(`engine still on ${dir} after ${ms} ms: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('Quantize Model… in the editor', () => {
  let tmp: string;
  let extensionPath: string;
  let api: LocalMoeApi;
  before(async () => {
    const ext = vscode.extensions.getExtension<LocalMoeApi>(EXTENSION_ID);
    assert.ok(ext, `extension ${EXTENSION_ID} is installed`);
    api = ext.isActive ? ext.exports : await ext.activate();
    extensionPath = ext.extensionPath;
    tmp = mkdtempSync(path.join(os.tmpdir(), 'localmoe-suite-q-'));
  });
  after(async function () {
    this.timeout(150_000);
    await vscode.workspace
      .getConfiguration('localmoe')
      .update('modelPath', undefined, vscode.ConfigurationTarget.Global);
    // The settings change restarts the engine; the quantized folder may be removed only once the
    // engine runs the default model again (later suites expect a running engine).
    await engineOffFolder(api, tmp, 120_000);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('quantizes the embedded model and sets it as the model when asked', async function () {
    this.timeout(240_000);
    const modelDir = path.join(extensionPath, 'models', 'localmoe-code-tiny');
    const outDir = path.join(tmp, 'tiny-paper-2bit');
    const result = await vscode.commands.executeCommand<QuantizeResult | undefined>(
      'localmoe.quantizeModel',
      { modelDir, preset: 'paper-2bit', outDir, useResult: true },
    );
    assert.ok(result, 'the command returned its result');
    assert.equal(result.status, 'done');
    assert.ok(readdirSync(outDir).includes('config.json'));
    assert.equal(vscode.workspace.getConfiguration('localmoe').get('modelPath'), outDir);
  });

  it('refuses an existing output folder with a clear error, writing nothing', async () => {
    const modelDir = path.join(extensionPath, 'models', 'localmoe-code-tiny');
    await assert.rejects(
      Promise.resolve(
        vscode.commands.executeCommand('localmoe.quantizeModel', {
          modelDir,
          preset: '4bit',
          outDir: tmp,
          useResult: false,
        }),
      ),
      /already exists: choose a new folder/,
    );
    await assert.rejects(
      Promise.resolve(
        vscode.commands.executeCommand('localmoe.quantizeModel', {
          modelDir: tmp,
          preset: '4bit',
          outDir: path.join(tmp, 'never'),
        }),
      ),
      /config\.json not found/,
    );
    assert.equal(existsSync(path.join(tmp, 'never')), false);
  });
});
