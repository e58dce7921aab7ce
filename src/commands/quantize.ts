// `LocalMoE: Quantize Model…`: input folder → preset → output folder → progress notification with
// Cancel → offer to use the result. The work runs in the sidecar (localmoe/quantize); the choices,
// defaults and texts are pure (src/quantize/). An optional argument skips the pickers (tests).
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Engine } from '../client/engine';
import { errorMessage } from '../client/supervisor';
import { readConfig, updateSetting } from '../config/settings';
import {
  quantizeProgressNotification,
  quantizeRequest,
  type QuantizePreset,
  type QuantizeResult,
} from '../protocol';
import { parseQuantizeArgs, type QuantizeCommandArgs } from '../quantize/args';
import {
  QUANTIZE_PRESETS,
  defaultOutputDir,
  formatBytes,
  formatQuantizeProgress,
  outputProblem,
} from '../quantize/presets';
import { checkModelFolder } from './model-folder';

let runs = 0;

async function pickInput(defaultDir: string): Promise<string | undefined> {
  const picked = await vscode.window.showOpenDialog({
    canSelectFolders: true,
    canSelectFiles: false,
    canSelectMany: false,
    defaultUri: vscode.Uri.file(defaultDir),
    openLabel: 'Quantize this model',
    title: 'LocalMoE: Hugging Face model folder to quantize (config.json + bf16/fp16 safetensors)',
  });
  return picked?.[0]?.fsPath;
}

async function pickPreset(): Promise<QuantizePreset | undefined> {
  const pick = await vscode.window.showQuickPick(
    QUANTIZE_PRESETS.map((p) => ({ label: p.id, detail: p.description, id: p.id })),
    { title: 'LocalMoE: Quantization preset', placeHolder: 'How to quantize the experts' },
  );
  return pick?.id;
}

async function pickOutput(modelDir: string, preset: QuantizePreset): Promise<string | undefined> {
  const suggested = defaultOutputDir(modelDir, preset);
  return vscode.window.showInputBox({
    title: 'LocalMoE: Output folder (created; must not exist)',
    value: suggested,
    valueSelection: [suggested.length - path.basename(suggested).length, suggested.length],
    validateInput: (v) => outputProblem(modelDir, v, existsSync(v)),
  });
}

/** Runs the command; resolves with the result (undefined when the user backed out). */
async function quantizeModel(
  engine: Engine,
  extensionPath: string,
  args: QuantizeCommandArgs,
): Promise<QuantizeResult | undefined> {
  const current =
    readConfig().modelPath || path.join(extensionPath, 'models', 'localmoe-code-tiny');
  const modelDir = args.modelDir ?? (await pickInput(current));
  if (!modelDir) return undefined;
  const check = await checkModelFolder(modelDir);
  if (!check.ok) throw new Error(check.message);
  const preset = args.preset ?? (await pickPreset());
  if (!preset) return undefined;
  const outDir = args.outDir ?? (await pickOutput(modelDir, preset));
  if (!outDir) return undefined;
  const problem = outputProblem(modelDir, outDir, existsSync(outDir));
  if (problem) throw new Error(problem);

  const progressId = `quantize-${++runs}`;
  const result = await vscode.window.withProgress(
    {
      location: vscode.ProgressLocation.Notification,
      title: `LocalMoE: quantizing ${path.basename(modelDir)} (${preset})`,
      cancellable: true,
    },
    async (progress, token) => {
      const connection = await engine.supervisor.connection();
      let reported = 0;
      // One quantization at a time (the sidecar refuses a second), so one handler suffices.
      const sub = connection.onNotification(quantizeProgressNotification, (p) => {
        if (p.progressId !== progressId || p.tensorsTotal === 0) return;
        const fraction = (100 * p.bytesInDone) / Math.max(1, p.bytesInTotal);
        progress.report({ message: formatQuantizeProgress(p), increment: fraction - reported });
        reported = fraction;
      });
      try {
        return await connection.sendRequest(
          quantizeRequest,
          { modelDir, outDir, preset, progressId, threads: args.threads ?? readConfig().threads },
          token,
        );
      } finally {
        sub.dispose();
      }
    },
  );
  engine.log.info(
    `quantize ${modelDir} → ${outDir} (${preset}): ${result.status}` +
      (result.status === 'done'
        ? `, ${formatBytes(result.bytesIn)} → ${formatBytes(result.bytesOut)} in ${result.seconds.toFixed(1)} s`
        : ''),
  );
  for (const note of result.notes) engine.log.info(`quantize note: ${note}`);
  if (result.status === 'cancelled') {
    void vscode.window.setStatusBarMessage('LocalMoE: quantization cancelled', 3000);
    return result;
  }
  if (args.useResult === true) {
    await updateSetting('modelPath', outDir);
  } else if (args.useResult === undefined) {
    // Not awaited: a command that awaits a notification hangs until the user dismisses it.
    void vscode.window
      .showInformationMessage(
        `Quantized ${path.basename(modelDir)} to ${outDir} (${formatBytes(result.bytesOut)}).`,
        'Use This Model',
      )
      .then(async (pick) => {
        // The settings listener restarts the engine with the new model.
        if (pick === 'Use This Model') await updateSetting('modelPath', outDir);
      });
  }
  return result;
}

export function registerQuantizeCommand(context: vscode.ExtensionContext, engine: Engine): void {
  context.subscriptions.push(
    vscode.commands.registerCommand('localmoe.quantizeModel', async (raw?: unknown) => {
      try {
        return await quantizeModel(engine, context.extensionPath, parseQuantizeArgs(raw));
      } catch (e) {
        const message = `LocalMoE: quantization failed: ${errorMessage(e)}`;
        engine.log.error(message);
        void vscode.window.showErrorMessage(message, 'Show Logs').then((pick) => {
          if (pick) engine.showLogs();
        });
        // Callers with arguments (tests, other extensions) get the failure, not just a toast.
        if (raw !== undefined) throw e;
        return undefined;
      }
    }),
  );
}
