// What Run Benchmark asks `moe bench` to do (src/bench/run-plan.ts): arguments, device choice,
// progress lines, failure messages, result file names, command arguments.
import * as assert from 'node:assert/strict';
import {
  BENCH_PRESETS,
  benchArgs,
  benchDevice,
  benchModelDir,
  commandLine,
  failureMessage,
  moeExecutable,
  parseBenchArgs,
  parseProgressLine,
  progressPercent,
  resultFileName,
  vramBudgetArg,
  workloadOf,
  workloadProblem,
} from '../../src/bench/run-plan';

describe('bench run plan', () => {
  it('offers Quick 128/32/1 and Standard 512/128/3', () => {
    assert.deepEqual(
      BENCH_PRESETS.map((p) => [p.id, p.promptLen, p.gen, p.repeat]),
      [
        ['quick', 128, 32, 1],
        ['standard', 512, 128, 3],
      ],
    );
  });

  it('builds the CPU command line: no budget, no --ablate, threads only when set', () => {
    assert.deepEqual(
      benchArgs({
        modelDir: '/m',
        device: 'cpu',
        promptLen: 128,
        gen: 32,
        repeat: 1,
        threads: 0,
        vramBudget: 12 * 2 ** 30,
        ablate: false,
        outFile: '/o.json',
      }),
      [
        'bench',
        '--model',
        '/m',
        '--device',
        'cpu',
        '--prompt-len',
        '128',
        '--gen',
        '32',
        '--repeat',
        '1',
        '--out',
        '/o.json',
      ],
    );
  });

  it('builds the CUDA command line with threads, the budget and --ablate', () => {
    assert.deepEqual(
      benchArgs({
        modelDir: '/m x',
        device: 'cuda',
        promptLen: 512,
        gen: 128,
        repeat: 3,
        threads: 16,
        vramBudget: 1.5 * 2 ** 40,
        ablate: true,
        outFile: '/o.json',
      }),
      [
        'bench',
        '--model',
        '/m x',
        '--device',
        'cuda',
        '--prompt-len',
        '512',
        '--gen',
        '128',
        '--repeat',
        '3',
        '--threads',
        '16',
        '--vram-budget',
        '1649267441664',
        '--ablate',
        '--out',
        '/o.json',
      ],
    );
    // No device known: the CLI's default, no flag.
    const args = benchArgs({
      modelDir: '/m',
      promptLen: 1,
      gen: 1,
      repeat: 1,
      ablate: false,
      outFile: '/o',
    });
    assert.ok(!args.includes('--device'));
  });

  it('passes the VRAM budget as bytes, or auto', () => {
    assert.equal(vramBudgetArg(0), 'auto');
    assert.equal(vramBudgetArg({ error: 'bad' }), 'auto');
    assert.equal(vramBudgetArg(12884901888), 12884901888);
  });

  it('picks the device from the setting, or for auto from the running engine', () => {
    assert.equal(benchDevice('cpu', 'cuda'), 'cpu');
    assert.equal(benchDevice('cuda', undefined), 'cuda');
    assert.equal(benchDevice('auto', 'cuda'), 'cuda');
    assert.equal(benchDevice('auto', 'cpu'), 'cpu');
    assert.equal(benchDevice('auto', undefined), undefined);
  });

  it('quotes the logged command line only where needed', () => {
    assert.equal(
      commandLine('/x/moe', ['bench', '--model', "/a b/it's"]),
      `/x/moe bench --model '/a b/it'\\''s'`,
    );
  });

  it('parses progress lines and ignores everything else', () => {
    assert.deepEqual(parseProgressLine('progress {"step":3,"steps":12,"what":"lru run 2/3"}'), {
      step: 3,
      steps: 12,
      what: 'lru run 2/3',
    });
    assert.deepEqual(parseProgressLine('progress {"step":0,"steps":1}'), {
      step: 0,
      steps: 1,
      what: '',
    });
    for (const line of [
      'loading model',
      'progress',
      'progress {broken',
      'progress {"step":1}',
      'progress {"step":1,"steps":0}',
      ' progress {"step":1,"steps":2}',
      'moe bench: progress {"step":1,"steps":2}',
    ])
      assert.equal(parseProgressLine(line), undefined, line);
    assert.equal(progressPercent({ step: 3, steps: 12, what: '' }), 25);
    assert.equal(progressPercent({ step: 13, steps: 12, what: '' }), 100);
  });

  it('validates the Custom… inputs', () => {
    assert.equal(workloadProblem('promptLen', '512'), undefined);
    assert.equal(workloadProblem('repeat', ' 3 '), undefined);
    assert.match(workloadProblem('promptLen', 'abc') ?? '', /whole number of prompt length/);
    assert.match(workloadProblem('gen', '1.5') ?? '', /whole number/);
    assert.match(workloadProblem('gen', '-1') ?? '', /whole number/);
    assert.match(workloadProblem('repeat', '0') ?? '', /between 1 and 20/);
    assert.match(workloadProblem('gen', '1') ?? '', /between 2 and 8192/);
    assert.match(workloadProblem('promptLen', '99999') ?? '', /between 1 and 32768/);
  });

  it('turns exit codes and stderr into a message the user can act on', () => {
    assert.equal(
      failureMessage(1, null, [
        'loading',
        'moe bench: config.json not found in /x: choose a model folder',
      ]),
      'config.json not found in /x: choose a model folder',
    );
    assert.match(
      failureMessage(2, null, ["moe bench: unknown option '--ablate'", 'usage:']),
      /rejected its arguments \(exit 2\): moe bench: unknown option '--ablate'.*rebuild/,
    );
    assert.match(
      failureMessage(null, 'SIGSEGV', ['progress {"step":1,"steps":2}']),
      /killed \(SIGSEGV\)$/,
    );
    assert.equal(
      failureMessage(3, null, []),
      'the benchmark failed with exit code 3 and printed no message',
    );
  });

  it('names results by UTC time and a file-safe model name', () => {
    assert.equal(
      resultFileName({
        created: '2026-11-25T17:00:00Z',
        model: { name: 'localmoe-code-tiny' } as never,
      }),
      '20261125-170000-localmoe-code-tiny.json',
    );
    assert.equal(
      resultFileName({ created: 'garbage', model: { name: '../Mixtral 8x7B/..' } as never }),
      'undated-Mixtral-8x7B.json',
    );
  });

  it('finds the moe tool and the model the engine uses', () => {
    assert.equal(moeExecutable('/ext', 'linux', {}), '/ext/dist/native/moe');
    assert.equal(moeExecutable('/ext', 'linux', { LOCALMOE_MOE_PATH: '/dev/moe' }), '/dev/moe');
    assert.equal(moeExecutable('/ext', 'win32', {}).endsWith('moe.exe'), true);
    assert.equal(benchModelDir('', '/ext'), '/ext/models/localmoe-code-tiny');
    assert.equal(benchModelDir(' /models/mixtral ', '/ext'), '/models/mixtral');
  });

  it('parses command arguments, naming the bad field', () => {
    assert.equal(parseBenchArgs(undefined), undefined);
    assert.deepEqual(parseBenchArgs({ preset: 'standard', device: 'cpu' }), {
      preset: 'standard',
      device: 'cpu',
    });
    assert.deepEqual(workloadOf({}), { promptLen: 128, gen: 32, repeat: 1 });
    assert.deepEqual(workloadOf({ preset: 'standard', gen: 8 }), {
      promptLen: 512,
      gen: 8,
      repeat: 3,
    });
    assert.throws(() => parseBenchArgs('quick'), /must be an object/);
    assert.throws(() => parseBenchArgs({ preset: 'slow' }), /unknown preset "slow"/);
    assert.throws(() => parseBenchArgs({ repeat: 0 }), /repeat must be an integer 1\.\.20/);
    assert.throws(() => parseBenchArgs({ device: 'tpu' }), /device must be/);
    assert.throws(() => parseBenchArgs({ ablate: 'yes' }), /ablate must be a boolean/);
  });
});
