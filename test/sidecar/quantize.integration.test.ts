// localmoe/quantize over JSON-RPC against the real bundled sidecar and addon, with the embedded
// model as input: no initialize needed, progress notifications, one at a time, $/cancelRequest.
import * as assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { CancellationTokenSource, ResponseError } from 'vscode-jsonrpc/node';
import {
  LocalMoeErrorCodes,
  quantizeProgressNotification,
  quantizeRequest,
  type QuantizeProgressParams,
} from '../../src/protocol';
import { repoRoot } from './helpers/repo';
import { startSidecar, type SidecarUnderTest } from './helpers/sidecar-process';

const embedded = (): string => path.join(repoRoot(), 'models', 'localmoe-code-tiny');

function isCode(code: number, pattern: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof ResponseError, `expected a ResponseError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  };
}

describe('sidecar localmoe/quantize', function () {
  this.timeout(300_000);
  let sidecar: SidecarUnderTest;
  let tmp: string;
  let progress: QuantizeProgressParams[];

  beforeEach(() => {
    tmp = mkdtempSync(path.join(tmpdir(), 'localmoe-sq-'));
    sidecar = startSidecar();
    progress = [];
    sidecar.connection.onNotification(quantizeProgressNotification, (p) => progress.push(p));
  });
  afterEach(async () => {
    await sidecar.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('quantizes without a loaded model and reports progress for its progressId', async () => {
    const out = path.join(tmp, 'q');
    const result = await sidecar.connection.sendRequest(quantizeRequest, {
      modelDir: embedded(),
      outDir: out,
      preset: '2bit-g64',
      threads: 2,
      progressId: 'p1',
    });
    assert.equal(result.status, 'done');
    assert.equal(result.outDir, out);
    assert.ok(result.quantized > 0 && result.bytesOut > 0);
    assert.ok(readdirSync(out).includes('config.json'));
    assert.ok(progress.length >= 1, 'progress notifications arrived');
    assert.ok(progress.every((p) => p.progressId === 'p1'));
    const last = progress[progress.length - 1];
    assert.equal(last.tensorsDone, last.tensorsTotal, 'the last tensor is always reported');
  });

  it('refuses a second quantization while one runs, and cancel leaves nothing behind', async () => {
    const out = path.join(tmp, 'first');
    const source = new CancellationTokenSource();
    const first = sidecar.connection.sendRequest(
      quantizeRequest,
      { modelDir: embedded(), outDir: out, preset: '4bit', threads: 1, progressId: 'a' },
      source.token,
    );
    await assert.rejects(
      sidecar.connection.sendRequest(quantizeRequest, {
        modelDir: embedded(),
        outDir: path.join(tmp, 'second'),
        preset: '4bit',
        progressId: 'b',
      }),
      isCode(LocalMoeErrorCodes.QuantizeBusy, /still running/),
    );
    source.cancel();
    const result = await first;
    assert.equal(result.status, 'cancelled');
    assert.equal(existsSync(out), false);
    assert.deepEqual(readdirSync(tmp), [], 'no temporary or second folder');
  });

  it('answers bad input with QuantizeFailed / InvalidParams naming the problem', async () => {
    await assert.rejects(
      sidecar.connection.sendRequest(quantizeRequest, {
        modelDir: tmp,
        outDir: path.join(tmp, 'o'),
        preset: 'paper-2bit',
        progressId: 'x',
      }),
      isCode(LocalMoeErrorCodes.QuantizeFailed, /Hugging Face model folder/),
    );
    await assert.rejects(
      sidecar.connection.sendRequest(quantizeRequest, {
        modelDir: embedded(),
        outDir: '',
        preset: 'paper-2bit',
        progressId: 'x',
      }),
      isCode(-32602, /outDir/),
    );
  });
});
