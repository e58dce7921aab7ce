// The `moe bench` child-process runner (src/bench/runner.ts) against a fake `moe`: a Node script
// that follows the CLI contract (progress lines on stderr, JSON to FILE.tmp then renamed, exit
// codes 0/1/2), driven by environment variables.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runBench, executableProblem } from '../../src/bench/runner';
import type { BenchProgress } from '../../src/bench/run-plan';
import { repoRoot } from './helpers';

const FAKE = `#!${process.execPath}
const fs = require('node:fs');
const args = process.argv.slice(2);
const out = args[args.indexOf('--out') + 1];
const mode = process.env.FAKE_MODE;
const steps = 4;
let step = 0;
function tick() {
  step++;
  process.stderr.write('bench: working on step ' + step + '\\n');
  process.stderr.write('progress ' + JSON.stringify({ step, steps, what: 'run ' + step + '/' + steps }) + '\\n');
  if (mode === 'hang' && step === 2) {
    fs.writeFileSync(out + '.tmp', '{"schema": "localmoe.bench/1", "half');
    process.on('SIGTERM', () => {}); // ignores TERM: the runner must KILL it
    setInterval(() => {}, 1000);
    return;
  }
  if (step < steps) return setTimeout(tick, 5);
  if (mode === 'error') {
    process.stderr.write('moe bench: config.json not found in /nowhere: choose a Hugging Face model folder\\n');
    process.exit(1);
  }
  if (mode === 'garbage') fs.writeFileSync(out + '.tmp', '{"schema": "other/1"}');
  else if (mode !== 'nofile') fs.writeFileSync(out + '.tmp', fs.readFileSync(process.env.FAKE_FIXTURE));
  if (mode !== 'nofile') fs.renameSync(out + '.tmp', out);
  process.stdout.write('| variant | decode tok/s |\\n| cpu | 301.7 |\\n');
  process.exit(0);
}
tick();
`;

describe('bench runner (fake moe)', function () {
  this.timeout(20000);
  let dir: string;
  let exe: string;
  const env = (mode: string) => ({
    ...process.env,
    FAKE_MODE: mode,
    FAKE_FIXTURE: path.join(repoRoot(), 'test/unit/fixtures/bench-cpu.json'),
  });
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'localmoe-bench-'));
    exe = path.join(dir, 'moe');
    fs.writeFileSync(exe, FAKE, { mode: 0o755 });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const run = (mode: string, signal?: AbortSignal, onProgress?: (p: BenchProgress) => void) => {
    const outFile = path.join(dir, `${mode}.json`);
    const lines: string[] = [];
    return runBench({
      exe,
      args: ['bench', '--model', '/m', '--out', outFile],
      outFile,
      env: env(mode),
      signal,
      onProgress,
      killGraceMs: 300,
      onLine: (l, s) => lines.push(`${s}: ${l}`),
    }).then((outcome) => ({ outcome, outFile, lines }));
  };

  it('reports progress, logs other lines and returns the validated report', async () => {
    const progress: BenchProgress[] = [];
    const { outcome, outFile, lines } = await run('ok', undefined, (p) => progress.push(p));
    assert.equal(outcome.kind, 'ok');
    if (outcome.kind !== 'ok') return;
    assert.equal(outcome.report.variants[0].name, 'cpu');
    assert.equal(outcome.outFile, outFile);
    assert.deepEqual(
      progress.map((p) => p.step),
      [1, 2, 3, 4],
    );
    assert.equal(progress[3].what, 'run 4/4');
    assert.ok(lines.includes('stderr: bench: working on step 1'));
    assert.ok(
      !lines.some((l) => l.includes('progress {')),
      'progress lines are not logged as text',
    );
    assert.match(outcome.stdout, /\| cpu \| 301\.7 \|/);
  });

  it('shows the engine message of an exit 1 and leaves no file', async () => {
    const { outcome, outFile } = await run('error');
    assert.equal(outcome.kind, 'failed');
    if (outcome.kind !== 'failed') return;
    assert.equal(outcome.exitCode, 1);
    assert.equal(
      outcome.message,
      'config.json not found in /nowhere: choose a Hugging Face model folder',
    );
    assert.ok(!fs.existsSync(outFile));
  });

  it('rejects a result in another schema, and a run that wrote nothing', async () => {
    const garbage = await run('garbage');
    assert.equal(garbage.outcome.kind, 'failed');
    if (garbage.outcome.kind === 'failed')
      assert.match(garbage.outcome.message, /cannot read: its schema is "other\/1"/);
    assert.ok(!fs.existsSync(garbage.outFile), 'an unreadable result is removed');
    const nofile = await run('nofile');
    assert.equal(nofile.outcome.kind, 'failed');
    if (nofile.outcome.kind === 'failed')
      assert.match(nofile.outcome.message, /wrote no result file/);
  });

  it('cancel kills the child (KILL after TERM is ignored) and removes the partial file', async () => {
    const abort = new AbortController();
    let sawTmp = false;
    const outFile = path.join(dir, 'hang.json');
    const started = Date.now();
    const { outcome } = await run('hang', abort.signal, (p) => {
      if (p.step === 2)
        setTimeout(() => {
          sawTmp = fs.existsSync(`${outFile}.tmp`);
          abort.abort();
        }, 50);
    });
    assert.equal(outcome.kind, 'cancelled');
    assert.ok(sawTmp, 'the fake wrote a partial FILE.tmp before the cancel');
    assert.ok(!fs.existsSync(`${outFile}.tmp`), 'the partial FILE.tmp is gone');
    assert.ok(!fs.existsSync(outFile));
    assert.ok(Date.now() - started < 10_000);
  });

  it('says what to do when the tool is missing or not executable', async () => {
    const missing = path.join(dir, 'nope', 'moe');
    assert.match(executableProblem(missing) ?? '', /benchmark tool is missing .*npm run build/);
    const outcome = await runBench({ exe: missing, args: [], outFile: path.join(dir, 'x.json') });
    assert.equal(outcome.kind, 'failed');
    const plain = path.join(dir, 'plain');
    fs.writeFileSync(plain, 'x', { mode: 0o644 });
    if (process.getuid?.() !== 0) assert.match(executableProblem(plain) ?? '', /cannot be run/);
  });
});
