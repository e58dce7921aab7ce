// `LocalMoE: Run Benchmark` and `LocalMoE: Open Benchmark Results…`. The benchmark is the engine's
// own CLI (`dist/native/moe bench`) on the current model and device: preset quick pick (or Custom…
// input boxes) → progress notification with Cancel → the JSON saved under globalStorage/bench/ →
// the results panel. On CUDA the CLI loads its own copy of the model, so the sidecar's engine is
// stopped for the run and restarted afterwards. The choices, arguments and parsing are pure
// (run-plan.ts, report.ts, runner.ts); this file is the VS Code glue.
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Engine } from '../client/engine';
import { errorMessage } from '../client/supervisor';
import { parseByteSize } from '../config/schema';
import { readConfig } from '../config/settings';
import { checkModelFolder } from '../commands/model-folder';
import { mustStopEngine, withEngineStopped } from './engine-pause';
import { BenchPanel } from './panel';
import { parseBenchReport, type BenchReport } from './report';
import {
  BENCH_PRESETS,
  benchArgs,
  benchDevice,
  benchModelDir,
  commandLine,
  moeExecutable,
  parseBenchArgs,
  progressPercent,
  resultFileName,
  workloadOf,
  workloadProblem,
  type BenchCommandArgs,
  type BenchWorkload,
  type WorkloadField,
  vramBudgetArg,
} from './run-plan';
import { executableProblem, runBench, type BenchRunOutcome } from './runner';

const LAST_PRESET_KEY = 'localmoe.bench.lastPreset';

export interface BenchResult {
  report: BenchReport;
  /** The saved JSON. */
  file: string;
}

/** Where results are kept: <globalStorage>/bench/. */
export function benchDir(context: vscode.ExtensionContext): string {
  return path.join(context.globalStorageUri.fsPath, 'bench');
}

async function askNumber(
  field: WorkloadField,
  title: string,
  value: number,
): Promise<number | undefined> {
  const text = await vscode.window.showInputBox({
    title,
    value: String(value),
    validateInput: (v) => workloadProblem(field, v),
    ignoreFocusOut: true,
  });
  return text === undefined ? undefined : Number(text.trim());
}

async function pickWorkload(context: vscode.ExtensionContext): Promise<BenchWorkload | undefined> {
  const last = context.globalState.get<string>(LAST_PRESET_KEY) ?? 'quick';
  const items: (vscode.QuickPickItem & { id: string })[] = [
    ...BENCH_PRESETS.map((p) => ({
      id: p.id,
      label: p.label,
      description: `${p.promptLen} / ${p.gen} / ×${p.repeat}`,
      detail: p.detail,
    })),
    {
      id: 'custom',
      label: 'Custom…',
      description: 'your own prompt length, tokens to generate and runs per variant',
    },
  ];
  // The last choice first, so Enter repeats it.
  items.sort((a, b) => Number(b.id === last) - Number(a.id === last));
  const pick = await vscode.window.showQuickPick(items, {
    title: 'LocalMoE: Run Benchmark',
    placeHolder: 'Workload: prompt tokens / generated tokens / runs per variant',
  });
  if (!pick) return undefined;
  await context.globalState.update(LAST_PRESET_KEY, pick.id);
  const preset = BENCH_PRESETS.find((p) => p.id === pick.id);
  if (preset) return preset;
  const base = BENCH_PRESETS[0];
  const promptLen = await askNumber(
    'promptLen',
    'Benchmark: prompt length (tokens)',
    base.promptLen,
  );
  if (promptLen === undefined) return undefined;
  const gen = await askNumber('gen', 'Benchmark: tokens to generate', base.gen);
  if (gen === undefined) return undefined;
  const repeat = await askNumber(
    'repeat',
    'Benchmark: runs per variant (medians are shown)',
    base.repeat,
  );
  if (repeat === undefined) return undefined;
  return { promptLen, gen, repeat };
}

/** A free name in `dir` for the result: `<stamp>-<model>.json`, else `...-2.json`, ... */
function freeName(dir: string, name: string): string {
  let file = path.join(dir, name);
  for (let i = 2; existsSync(file); i++)
    file = path.join(dir, name.replace(/\.json$/, `-${i}.json`));
  return file;
}

let running = false;

async function runBenchmark(
  context: vscode.ExtensionContext,
  engine: Engine,
  panel: BenchPanel,
  args: BenchCommandArgs | undefined,
): Promise<BenchResult | undefined> {
  if (running) {
    void vscode.window.showWarningMessage('LocalMoE: a benchmark is already running.');
    return undefined;
  }
  const log = engine.log;
  const config = readConfig();
  if (engine.generation.mode === 'remote' && !args) {
    const go = await vscode.window.showWarningMessage(
      'Remote mode is on: completions and chat use the server in localmoe.remote.url, but a benchmark needs the local engine. It runs the `moe` tool on this machine with the model in localmoe.modelPath (the embedded model when empty), so it measures this machine, not the remote server.',
      { modal: true },
      'Benchmark Local Engine',
    );
    if (go !== 'Benchmark Local Engine') return undefined;
  }
  const exe = moeExecutable(context.extensionPath);
  const missing = executableProblem(exe);
  if (missing) throw new Error(missing);
  const modelDir = args?.modelDir ?? benchModelDir(config.modelPath, context.extensionPath);
  const check = await checkModelFolder(modelDir);
  if (!check.ok) throw new Error(`${check.message} (localmoe.modelPath)`);

  const workload = args ? workloadOf(args) : await pickWorkload(context);
  if (!workload) return undefined;

  const s = engine.supervisor.state;
  const device =
    args?.device ??
    benchDevice(config.device, s.kind === 'running' ? s.info.model.device : undefined);
  const ablate = args?.ablate ?? device === 'cuda';
  const dir = benchDir(context);
  await fs.mkdir(dir, { recursive: true });
  const outFile = path.join(dir, `.running-${process.pid}-${Date.now()}.json`);
  const argv = benchArgs({
    ...workload,
    modelDir,
    device,
    threads: config.threads,
    vramBudget: vramBudgetArg(parseByteSize(config.vramBudget)),
    ablate,
    outFile,
  });
  // Two copies of a model do not fit a GPU sized for one: the engine makes room for the run.
  const stopEngine = mustStopEngine(device, s.kind);

  running = true;
  try {
    log.info(`benchmark: ${commandLine(exe, argv)}`);
    const outcome = await vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: `LocalMoE: benchmarking ${path.basename(modelDir)} on ${device?.toUpperCase() ?? 'the default device'}`,
        cancellable: true,
      },
      async (progress, token) => {
        const abort = new AbortController();
        const sub = token.onCancellationRequested(() => abort.abort());
        let reported = 0;
        const run = (): Promise<BenchRunOutcome> => {
          progress.report({ message: 'loading the model…' });
          return runBench({
            exe,
            args: argv,
            outFile,
            signal: abort.signal,
            onProgress: (p) => {
              const pct = progressPercent(p);
              progress.report({
                message: `${p.what || 'running'} (${p.step}/${p.steps})`,
                increment: Math.max(0, pct - reported),
              });
              reported = Math.max(reported, pct);
            },
            onLine: (line, stream) => log.info(`[bench ${stream}] ${line}`),
          });
        };
        try {
          return await withEngineStopped(engine.supervisor, stopEngine, run, {
            onStopping: () => {
              progress.report({
                message:
                  'stopping the engine (the benchmark loads its own copy of the model on the GPU)…',
              });
              log.info('benchmark: stopping the engine for the CUDA run; it restarts afterwards');
            },
            onRestarted: () => {
              log.info('benchmark: engine restarted');
              void vscode.window.showInformationMessage(
                'LocalMoE: the engine was stopped for the GPU benchmark and has been restarted.',
              );
            },
            onRestartFailed: (e) => {
              log.error(`restart after the benchmark failed: ${errorMessage(e)}`);
              engine.reportUnavailable(e);
            },
          });
        } finally {
          sub.dispose();
        }
      },
    );
    if (outcome.kind === 'cancelled') {
      log.info('benchmark cancelled; no result kept');
      void vscode.window.setStatusBarMessage('LocalMoE: benchmark cancelled', 4000);
      return undefined;
    }
    if (outcome.kind === 'failed') {
      for (const line of outcome.stderrTail) log.error(`[bench] ${line}`);
      throw new Error(outcome.message);
    }
    const file = freeName(dir, resultFileName(outcome.report));
    await fs.rename(outcome.outFile, file);
    const decode = outcome.report.variants
      .map((v) => `${v.name} ${v.decode_tok_s ?? '—'} tok/s`)
      .join(', ');
    log.info(`benchmark saved to ${file}: decode ${decode}`);
    panel.show(outcome.report, file);
    return { report: outcome.report, file };
  } finally {
    running = false;
  }
}

async function openResults(
  panel: BenchPanel,
  dir: string,
  raw: unknown,
): Promise<BenchResult | undefined> {
  let file: string | undefined;
  if (typeof raw === 'string') file = raw;
  else if (raw instanceof vscode.Uri) file = raw.fsPath;
  else {
    await fs.mkdir(dir, { recursive: true });
    const picked = await vscode.window.showOpenDialog({
      defaultUri: vscode.Uri.file(dir),
      canSelectFiles: true,
      canSelectFolders: false,
      canSelectMany: false,
      filters: { 'Benchmark results': ['json'] },
      openLabel: 'Open Results',
      title: 'LocalMoE: benchmark result (JSON written by moe bench)',
    });
    file = picked?.[0]?.fsPath;
  }
  if (!file) return undefined;
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${file}: ${errorMessage(e)}`);
  }
  const parsed = parseBenchReport(text);
  if (!parsed.ok)
    throw new Error(`${path.basename(file)} is not a LocalMoE benchmark result: ${parsed.error}`);
  panel.show(parsed.report, file);
  return { report: parsed.report, file };
}

function reportFailure(engine: Engine, what: string, e: unknown): void {
  const message = `LocalMoE: ${what}: ${errorMessage(e)}`;
  engine.log.error(message);
  void vscode.window.showErrorMessage(message, 'Show Logs').then((pick) => {
    if (pick) engine.showLogs();
  });
}

export function registerBench(context: vscode.ExtensionContext, engine: Engine): BenchPanel {
  const panel = new BenchPanel(context.extensionUri, engine.log);
  context.subscriptions.push(
    panel,
    vscode.commands.registerCommand('localmoe.runBenchmark', async (raw?: unknown) => {
      try {
        return await runBenchmark(context, engine, panel, parseBenchArgs(raw));
      } catch (e) {
        reportFailure(engine, 'benchmark failed', e);
        // Callers with arguments (tests, other extensions) get the failure, not just a toast.
        if (raw !== undefined) throw e;
        return undefined;
      }
    }),
    vscode.commands.registerCommand('localmoe.openBenchmarkResults', async (raw?: unknown) => {
      try {
        return await openResults(panel, benchDir(context), raw);
      } catch (e) {
        reportFailure(engine, 'cannot open the benchmark results', e);
        if (raw !== undefined) throw e;
        return undefined;
      }
    }),
  );
  return panel;
}
