// What "LocalMoE: Run Benchmark" runs: the presets, the `moe bench` argument list built from the
// choice and the settings, the progress lines the CLI prints on stderr, the messages for a failed
// run, and the name a result is saved under. Pure (no `vscode`): unit-tested in
// test/unit/bench-run-plan.test.ts. The CLI contract is native/tools/moe_bench.cpp's usage text.
import * as path from 'node:path';
import type { BenchReport } from './report';

export type BenchPresetId = 'quick' | 'standard';

export interface BenchWorkload {
  promptLen: number;
  gen: number;
  repeat: number;
}

export interface BenchPreset extends BenchWorkload {
  id: BenchPresetId;
  label: string;
  detail: string;
}

export const BENCH_PRESETS: readonly BenchPreset[] = [
  {
    id: 'quick',
    label: 'Quick',
    promptLen: 128,
    gen: 32,
    repeat: 1,
    detail: 'prompt 128 tokens, generate 32, 1 run per variant: a first look in seconds',
  },
  {
    id: 'standard',
    label: 'Standard',
    promptLen: 512,
    gen: 128,
    repeat: 3,
    detail: 'prompt 512 tokens, generate 128, 3 runs per variant (medians): figures to compare',
  },
];

/** Bounds of the Custom… inputs (and of command arguments). */
export const LIMITS = {
  promptLen: { min: 1, max: 32768, what: 'prompt length (tokens)' },
  // The CLI needs two tokens: decode speed is timed from the first generated token on.
  gen: { min: 2, max: 8192, what: 'tokens to generate' },
  repeat: { min: 1, max: 20, what: 'runs per variant' },
} as const;

export type WorkloadField = keyof typeof LIMITS;

/** Validation message for an input box (undefined = valid). */
export function workloadProblem(field: WorkloadField, text: string): string | undefined {
  const { min, max, what } = LIMITS[field];
  const t = text.trim();
  if (!/^[0-9]+$/.test(t)) return `Enter a whole number of ${what}, ${min}–${max}.`;
  const n = Number(t);
  if (n < min || n > max) return `The ${what} must be between ${min} and ${max}.`;
  return undefined;
}

export interface BenchPlan extends BenchWorkload {
  modelDir: string;
  /** Omitted: the CLI's default device. */
  device?: 'cpu' | 'cuda';
  /** 0 / omitted: all cores. */
  threads?: number;
  /** "auto" or bytes (the CLI reads a plain number as bytes); passed on CUDA only. */
  vramBudget?: 'auto' | number;
  ablate: boolean;
  outFile: string;
}

/** The arguments after the executable: `bench --model DIR ... --out FILE`. */
export function benchArgs(plan: BenchPlan): string[] {
  const args = ['bench', '--model', plan.modelDir];
  if (plan.device) args.push('--device', plan.device);
  args.push(
    '--prompt-len',
    String(plan.promptLen),
    '--gen',
    String(plan.gen),
    '--repeat',
    String(plan.repeat),
  );
  if (plan.threads && plan.threads > 0) args.push('--threads', String(plan.threads));
  if (plan.device === 'cuda' && plan.vramBudget !== undefined)
    args.push('--vram-budget', plan.vramBudget === 'auto' ? 'auto' : String(plan.vramBudget));
  if (plan.ablate) args.push('--ablate');
  args.push('--out', plan.outFile);
  return args;
}

/**
 * localmoe.vramBudget as the CLI's --vram-budget: "auto", or the size in bytes (the setting's units
 * are more than the CLI parses, and a plain number is bytes to both). 0 / unparsable = "auto".
 */
export function vramBudgetArg(parsedSetting: number | { error: string }): 'auto' | number {
  return typeof parsedSetting === 'number' && parsedSetting > 0 ? parsedSetting : 'auto';
}

/**
 * The device to benchmark: the setting, or for "auto" the device the running engine picked (it
 * knows whether a GPU is usable); undefined when that is unknown (the CLI then picks).
 */
export function benchDevice(
  setting: 'auto' | 'cpu' | 'cuda',
  runningDevice: 'cpu' | 'cuda' | undefined,
): 'cpu' | 'cuda' | undefined {
  return setting === 'auto' ? runningDevice : setting;
}

/** The command line as one string for the log (arguments with spaces quoted). */
export function commandLine(exe: string, args: readonly string[]): string {
  const q = (a: string): string =>
    /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
  return [exe, ...args].map(q).join(' ');
}

export interface BenchProgress {
  step: number;
  steps: number;
  what: string;
}

/** `progress {"step":3,"steps":12,"what":"lru run 2/3"}` → the object; any other line → undefined. */
export function parseProgressLine(line: string): BenchProgress | undefined {
  const m = /^progress (\{.*\})\s*$/.exec(line);
  if (!m) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(m[1]);
  } catch {
    return undefined;
  }
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  const step = o.step;
  const steps = o.steps;
  if (typeof step !== 'number' || typeof steps !== 'number' || !(steps > 0) || step < 0)
    return undefined;
  return { step, steps, what: typeof o.what === 'string' ? o.what : '' };
}

/** Percent done for the progress notification's increments (0..100). */
export function progressPercent(p: BenchProgress): number {
  return Math.max(0, Math.min(100, (100 * p.step) / p.steps));
}

/**
 * Why a run failed, for the error notification: the CLI's own `moe bench: ...` line when it
 * printed one (exit 1 = engine error, 2 = bad usage), else the last stderr line, else the code.
 */
export function failureMessage(
  code: number | null,
  signal: string | null,
  stderrTail: readonly string[],
): string {
  const lines = stderrTail.map((l) => l.trim()).filter((l) => l && !l.startsWith('progress {'));
  const own = [...lines].reverse().find((l) => /^moe( bench)?:/.test(l));
  const detail = own ?? lines[lines.length - 1];
  if (signal) return `the benchmark was killed (${signal})${detail ? `: ${detail}` : ''}`;
  if (code === 2) {
    return `the benchmark rejected its arguments (exit 2)${detail ? `: ${detail}` : ''}; this moe may be older than the extension (rebuild: npm run build)`;
  }
  return detail
    ? detail.replace(/^moe bench: /, '')
    : `the benchmark failed with exit code ${code} and printed no message`;
}

/** `20261125-170000-localmoe-code-tiny.json` from the report's time and model name. */
export function resultFileName(report: Pick<BenchReport, 'created' | 'model'>): string {
  const t = new Date(report.created);
  const pad = (n: number): string => String(n).padStart(2, '0');
  const stamp = Number.isNaN(t.getTime())
    ? report.created.replace(/[^0-9]/g, '').slice(0, 14) || 'undated'
    : `${t.getUTCFullYear()}${pad(t.getUTCMonth() + 1)}${pad(t.getUTCDate())}-${pad(t.getUTCHours())}${pad(t.getUTCMinutes())}${pad(t.getUTCSeconds())}`;
  const model =
    report.model.name
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^[-.]+|[-.]+$/g, '')
      .slice(0, 60) || 'model';
  return `${stamp}-${model}.json`;
}

/** Env override of the moe CLI, for development and tests (cf. LOCALMOE_SIDECAR_PATH). */
export const MOE_PATH_ENV = 'LOCALMOE_MOE_PATH';

/** The moe CLI shipped with the extension (dist/native/moe, built by scripts/build.mjs). */
export function moeExecutable(
  extensionPath: string,
  platform: string = process.platform,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return (
    env[MOE_PATH_ENV] ||
    path.join(extensionPath, 'dist', 'native', platform === 'win32' ? 'moe.exe' : 'moe')
  );
}

/** The model the engine uses: the setting, else the embedded model shipped with the extension. */
export function benchModelDir(modelPathSetting: string, extensionPath: string): string {
  return modelPathSetting.trim()
    ? path.resolve(modelPathSetting.trim())
    : path.join(extensionPath, 'models', 'localmoe-code-tiny');
}

/** The optional argument of `localmoe.runBenchmark` (tests, other extensions): skips the pickers. */
export interface BenchCommandArgs {
  preset?: BenchPresetId;
  /** Custom workload; any field set overrides the preset's. */
  promptLen?: number;
  gen?: number;
  repeat?: number;
  device?: 'cpu' | 'cuda';
  ablate?: boolean;
  modelDir?: string;
}

/** Parses the command argument; throws an Error naming the bad field. */
export function parseBenchArgs(raw: unknown): BenchCommandArgs | undefined {
  if (raw === undefined || raw === null) return undefined;
  const bad = (what: string): never => {
    throw new Error(`localmoe.runBenchmark: ${what}`);
  };
  if (typeof raw !== 'object' || Array.isArray(raw)) bad('the argument must be an object');
  const r = raw as Record<string, unknown>;
  const args: BenchCommandArgs = {};
  if (r.preset !== undefined) {
    if (!BENCH_PRESETS.some((p) => p.id === r.preset))
      bad(`unknown preset ${JSON.stringify(r.preset)} (quick, standard)`);
    args.preset = r.preset as BenchPresetId;
  }
  for (const k of ['promptLen', 'gen', 'repeat'] as const) {
    const v = r[k];
    if (v === undefined) continue;
    const { min, max } = LIMITS[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      bad(`${k} must be an integer ${min}..${max}`);
    args[k] = v as number;
  }
  if (r.device !== undefined) {
    if (r.device !== 'cpu' && r.device !== 'cuda') bad('device must be "cpu" or "cuda"');
    args.device = r.device as 'cpu' | 'cuda';
  }
  if (r.ablate !== undefined) {
    if (typeof r.ablate !== 'boolean') bad('ablate must be a boolean');
    args.ablate = r.ablate as boolean;
  }
  if (r.modelDir !== undefined) {
    if (typeof r.modelDir !== 'string' || !r.modelDir) bad('modelDir must be a non-empty string');
    args.modelDir = r.modelDir as string;
  }
  return args;
}

/** The workload of command arguments: the preset (default quick) with any field overridden. */
export function workloadOf(args: BenchCommandArgs): BenchWorkload {
  const p = BENCH_PRESETS.find((x) => x.id === (args.preset ?? 'quick')) ?? BENCH_PRESETS[0];
  return {
    promptLen: args.promptLen ?? p.promptLen,
    gen: args.gen ?? p.gen,
    repeat: args.repeat ?? p.repeat,
  };
}
