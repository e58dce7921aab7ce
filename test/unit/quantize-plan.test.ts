// Pure parts of Quantize Model…: presets offered, default output folder, output checks, progress
// text, and the command argument.
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseQuantizeArgs } from '../../src/quantize/args';
import {
  QUANTIZE_PRESETS,
  defaultOutputDir,
  formatDuration,
  formatQuantizeProgress,
  outputProblem,
} from '../../src/quantize/presets';
import { repoRoot } from '../sidecar/helpers/repo';

describe('quantize presets and output folder', () => {
  it('offers exactly the engine presets, in its order, with the README bits/weight', () => {
    const header = readFileSync(path.join(repoRoot(), 'native', 'quant', 'presets.h'), 'utf8');
    // "//   experts:  paper-2bit  2-bit g16, scale/zero group 128   (3.03 bits/weight)"
    const engine = [
      ...header.matchAll(
        /^\/\/\s+(?:experts:)?\s+([\w-]+)\s+\d-bit g\d+.*\((\d\.\d\d) bits\/weight\)/gm,
      ),
    ].map((m) => ({ id: m[1], bits: Number(m[2]) }));
    assert.equal(engine.length, 4, 'parsed the preset table of presets.h');
    assert.deepEqual(
      QUANTIZE_PRESETS.map((p) => ({ id: p.id, bits: p.expertBitsPerWeight })),
      engine,
    );
    for (const p of QUANTIZE_PRESETS)
      assert.ok(p.description.includes(`${p.expertBitsPerWeight.toFixed(2)} bits/weight`), p.id);
  });

  it('defaults the output to a sibling <name>-<preset>', () => {
    assert.equal(
      defaultOutputDir('/models/Mixtral-8x7B/', 'paper-2bit'),
      path.resolve('/models/Mixtral-8x7B-paper-2bit'),
    );
    assert.equal(defaultOutputDir('/m/tiny', '4bit'), path.resolve('/m/tiny-4bit'));
  });

  it('refuses the input itself, a folder inside it and an existing folder', () => {
    assert.match(outputProblem('/m/a', '/m/a/', false) ?? '', /differ from the input/);
    assert.match(outputProblem('/m/a', '/m/a/q', false) ?? '', /inside the input/);
    assert.match(outputProblem('/m/a', '/m/b', true) ?? '', /already exists: choose a new folder/);
    assert.equal(outputProblem('/m/a', '/m/ab', false), undefined);
  });

  it('formats progress with sizes, counts and the time left until the end', () => {
    const p = {
      tensorsDone: 40,
      tensorsTotal: 97,
      bytesInDone: 12_300_000,
      bytesInTotal: 45_600_000,
    };
    assert.equal(
      formatQuantizeProgress({ ...p, etaS: 125 }),
      '40/97 tensors, 12.3 MB of 45.6 MB, about 2 min left',
    );
    assert.equal(formatQuantizeProgress({ ...p, etaS: null }), '40/97 tensors, 12.3 MB of 45.6 MB');
    assert.equal(
      formatQuantizeProgress({ ...p, tensorsDone: 97, bytesInDone: 45_600_000, etaS: 0 }),
      '97/97 tensors, 45.6 MB of 45.6 MB',
    );
    assert.equal(formatDuration(4), '4 s');
    assert.equal(formatDuration(3 * 3600 + 5 * 60), '3 h 5 min');
  });
});

describe('localmoe.quantizeModel argument', () => {
  it('accepts nothing or a full object', () => {
    assert.deepEqual(parseQuantizeArgs(undefined), {});
    assert.deepEqual(
      parseQuantizeArgs({
        modelDir: '/a',
        preset: '2bit-g64',
        outDir: '/b',
        useResult: false,
        threads: 2,
      }),
      { modelDir: '/a', preset: '2bit-g64', outDir: '/b', useResult: false, threads: 2 },
    );
  });

  it('names the bad field', () => {
    assert.throws(() => parseQuantizeArgs('x'), /must be an object/);
    assert.throws(() => parseQuantizeArgs({ preset: '1bit' }), /unknown preset "1bit"/);
    assert.throws(() => parseQuantizeArgs({ modelDir: '' }), /modelDir must be a non-empty string/);
    assert.throws(() => parseQuantizeArgs({ useResult: 'yes' }), /useResult must be a boolean/);
    assert.throws(() => parseQuantizeArgs({ threads: -1 }), /threads must be an integer/);
  });
});
