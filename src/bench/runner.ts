// Runs `moe bench` as a child process: stderr progress lines become callbacks, other lines go to
// the log, an abort kills the child (TERM, then KILL after a grace) and removes whatever it wrote,
// and a finished run's JSON is read and validated. Node only (no `vscode`): the unit tests drive it
// with a fake `moe` script. Results: ok (with the report), cancelled (nothing left on disk), failed.
import { spawn } from 'node:child_process';
import { accessSync, constants, promises as fs } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseBenchReport, type BenchReport } from './report';
import { failureMessage, parseProgressLine, type BenchProgress } from './run-plan';

export interface BenchRunOptions {
  exe: string;
  args: string[];
  /** The file passed as --out; the CLI writes `${outFile}.tmp` and renames it. */
  outFile: string;
  onProgress?(p: BenchProgress): void;
  /** Every other line of stderr and stdout (the CLI's human log and table). */
  onLine?(line: string, stream: 'stdout' | 'stderr'): void;
  signal?: AbortSignal;
  /** After TERM, how long to wait before KILL. */
  killGraceMs?: number;
  env?: NodeJS.ProcessEnv;
}

export type BenchRunOutcome =
  | { kind: 'ok'; report: BenchReport; outFile: string; stdout: string }
  | { kind: 'cancelled' }
  | { kind: 'failed'; message: string; exitCode: number | null; stderrTail: string[] };

const TAIL = 40;

/** Why the executable cannot be run, or undefined. */
export function executableProblem(exe: string): string | undefined {
  try {
    accessSync(exe, constants.X_OK);
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === 'ENOENT'
      ? `the benchmark tool is missing (${exe}): the extension is incomplete; rebuild it with "npm run build"`
      : `the benchmark tool ${exe} cannot be run (${code ?? String(e)})`;
  }
}

async function removeOutputs(outFile: string): Promise<void> {
  await Promise.all([outFile, `${outFile}.tmp`].map((f) => fs.rm(f, { force: true })));
}

export async function runBench(o: BenchRunOptions): Promise<BenchRunOutcome> {
  const problem = executableProblem(o.exe);
  if (problem) return { kind: 'failed', message: problem, exitCode: null, stderrTail: [] };
  if (o.signal?.aborted) return { kind: 'cancelled' };

  const child = spawn(o.exe, o.args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: o.env ?? process.env,
    windowsHide: true,
  });
  const tail: string[] = [];
  let stdout = '';
  let spawnError: Error | undefined;
  const stderr = createInterface({ input: child.stderr });
  stderr.on('line', (line) => {
    const p = parseProgressLine(line);
    if (p) {
      o.onProgress?.(p);
      return;
    }
    tail.push(line);
    if (tail.length > TAIL) tail.shift();
    o.onLine?.(line, 'stderr');
  });
  const out = createInterface({ input: child.stdout });
  out.on('line', (line) => {
    stdout += `${line}\n`;
    o.onLine?.(line, 'stdout');
  });

  let aborted = false;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const onAbort = (): void => {
    aborted = true;
    child.kill('SIGTERM');
    killTimer = setTimeout(() => child.kill('SIGKILL'), o.killGraceMs ?? 2000);
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });

  // 'close' comes after the exit and after stdout/stderr ended, so every line has been seen.
  const { code, signal } = await new Promise<{ code: number | null; signal: string | null }>(
    (resolve) => {
      child.on('error', (e) => {
        spawnError = e;
      });
      child.on('close', (c, s) => resolve({ code: c, signal: s }));
    },
  );
  o.signal?.removeEventListener('abort', onAbort);
  if (killTimer) clearTimeout(killTimer);

  if (aborted) {
    // A cancelled run leaves no result, complete or partial.
    await removeOutputs(o.outFile);
    return { kind: 'cancelled' };
  }
  if (spawnError) {
    await removeOutputs(o.outFile);
    return {
      kind: 'failed',
      message: `could not start ${o.exe}: ${spawnError.message}`,
      exitCode: null,
      stderrTail: tail,
    };
  }
  if (code !== 0) {
    await removeOutputs(o.outFile);
    return {
      kind: 'failed',
      message: failureMessage(code, signal, tail),
      exitCode: code,
      stderrTail: tail,
    };
  }
  let text: string;
  try {
    text = await fs.readFile(o.outFile, 'utf8');
  } catch {
    await removeOutputs(o.outFile);
    return {
      kind: 'failed',
      message: `the benchmark finished but wrote no result file (${o.outFile})`,
      exitCode: code,
      stderrTail: tail,
    };
  }
  const parsed = parseBenchReport(text);
  if (!parsed.ok) {
    await removeOutputs(o.outFile);
    return {
      kind: 'failed',
      message: `the benchmark wrote a result this extension cannot read: ${parsed.error}`,
      exitCode: code,
      stderrTail: tail,
    };
  }
  return { kind: 'ok', report: parsed.report, outFile: o.outFile, stdout };
}
