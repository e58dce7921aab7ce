// quantize(): the real quantizer behind the addon, on the embedded model (models/localmoe-code-tiny,
// ~39 MB bf16) into temp folders: progress order, the finished folder, cancel leaving nothing,
// engine errors passed through with their message.
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddonError, QuantizeProgress } from '../../src/sidecar/addon-types';
import { repoRoot } from '../sidecar/helpers/repo';
import { addon } from './helpers';

const embedded = (): string => path.join(repoRoot(), 'models', 'localmoe-code-tiny');

describe('addon quantize()', function () {
  let tmp: string;
  beforeEach(() => (tmp = mkdtempSync(path.join(os.tmpdir(), 'localmoe-quant-'))));
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('quantizes the embedded model, reporting increasing progress, into a loadable folder', async function () {
    this.timeout(300_000);
    const out = path.join(tmp, 'tiny-2bit');
    const events: QuantizeProgress[] = [];
    const summary = await addon().quantize(
      { modelDir: embedded(), outDir: out, preset: 'paper-2bit', threads: 2 },
      (p) => events.push(p),
    );
    assert.equal(summary.outDir, out);
    assert.ok(summary.quantized > 0, 'some tensors quantized');
    assert.ok(
      summary.bytesOut > 0 && summary.bytesOut < summary.bytesIn,
      'output smaller than bf16 input',
    );
    assert.ok(events.length > 1, `several progress events (${events.length})`);
    for (let i = 1; i < events.length; i++) {
      assert.ok(events[i].tensorsDone > events[i - 1].tensorsDone, `tensorsDone increases at ${i}`);
      assert.ok(events[i].bytesInDone >= events[i - 1].bytesInDone, `bytesInDone grows at ${i}`);
    }
    const last = events[events.length - 1];
    assert.equal(last.tensorsDone, last.tensorsTotal);
    assert.equal(last.bytesInDone, last.bytesInTotal);
    assert.ok(
      last.etaS !== null && last.etaS >= 0 && last.etaS < 1,
      `eta ≈ 0 at the end (${last.etaS})`,
    );
    const files = readdirSync(out);
    assert.ok(files.includes('config.json') && files.includes('tokenizer.json'), files.join(', '));
    assert.ok(
      files.some((f) => f.endsWith('.safetensors')),
      files.join(', '),
    );
    assert.deepEqual(readdirSync(tmp), ['tiny-2bit'], 'no temporary folder left');
    // The engine loads what the quantizer wrote.
    const engine = await addon().load({ modelDir: out, threads: 2 });
    try {
      assert.equal(engine.info().numExperts, 8);
    } finally {
      engine.unload();
    }
  });

  it('cancel() stops it, rejects with ERR_LOCALMOE_CANCELLED and leaves nothing behind', async function () {
    this.timeout(300_000);
    const out = path.join(tmp, 'cancelled');
    let seen = 0;
    const task = addon().quantize(
      { modelDir: embedded(), outDir: out, preset: '4bit', threads: 1 },
      () => {
        seen++;
        if (seen === 2) task.cancel();
      },
    );
    await assert.rejects(task, (err: AddonError) => {
      assert.equal(err.code, 'ERR_LOCALMOE_CANCELLED');
      assert.match(err.message, /cancelled/);
      return true;
    });
    assert.ok(seen >= 2);
    assert.equal(existsSync(out), false, 'output folder absent');
    assert.deepEqual(readdirSync(tmp), [], 'no temporary folder left');
    task.cancel(); // after the end: harmless
  });

  it('rejects a folder without config.json with the engine message', async () => {
    const task = addon().quantize(
      { modelDir: tmp, outDir: path.join(tmp, 'out'), preset: 'paper-2bit' },
      () => undefined,
    );
    await assert.rejects(task, (err: AddonError) => {
      assert.equal(err.code, 'ERR_LOCALMOE_ENGINE');
      assert.equal(err.call, 'quantize');
      assert.match(err.message, /Hugging Face model folder/);
      return true;
    });
  });

  it('rejects an existing output folder and an unknown preset, writing nothing', async () => {
    await assert.rejects(
      addon().quantize(
        { modelDir: embedded(), outDir: tmp, preset: 'paper-2bit' },
        () => undefined,
      ),
      (err: AddonError) => err.code === 'ERR_LOCALMOE_ENGINE' && /already exists/.test(err.message),
    );
    const out = path.join(tmp, 'x');
    await assert.rejects(
      addon().quantize({ modelDir: embedded(), outDir: out, preset: '1bit' }, () => undefined),
      (err: AddonError) => err.code === 'ERR_LOCALMOE_ENGINE' && /paper-2bit/.test(err.message),
    );
    assert.equal(existsSync(out), false);
  });

  it('rejects bad arguments with a TypeError naming the field', async () => {
    const q = addon().quantize as unknown as (o: unknown, cb: unknown) => Promise<unknown>;
    await assert.rejects(
      q({ outDir: 'x', preset: '4bit' }, () => undefined),
      /options\.modelDir/,
    );
    await assert.rejects(
      q({ modelDir: 'a', outDir: 'b', preset: '4bit', method: 'gptq' }, () => undefined),
      /options\.method/,
    );
    await assert.rejects(q({ modelDir: 'a', outDir: 'b', preset: '4bit' }, 42), /onProgress/);
  });
});
