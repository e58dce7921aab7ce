// localmoe/quantize: runs the addon's quantize() beside the generation scheduler (it needs no
// loaded model and uses its own worker thread), one quantization at a time, with progress as
// throttled notifications and $/cancelRequest → the addon's cancel flag.
import { ResponseError } from 'vscode-jsonrpc';
import {
  LocalMoeErrorCodes,
  type QuantizeParams,
  type QuantizeProgressParams,
  type QuantizeResult,
} from '../protocol';
import {
  isAddonError,
  type AddonModule,
  type QuantizeProgress,
  type QuantizeTask,
} from './addon-types';
import type { Logger } from './log';
import { checkQuantizeParams } from './validate';

/** Progress notifications at most this often; the last tensor's event is always sent. */
const PROGRESS_INTERVAL_MS = 100;

export class QuantizeService {
  /** Output folder of the running quantization, if any (one at a time: it is CPU- and disk-bound). */
  private runningOut: string | undefined;
  private running: QuantizeTask | undefined;

  constructor(
    private readonly loadAddon: () => AddonModule,
    private readonly log: Logger,
    private readonly notify: (progress: QuantizeProgressParams) => void,
  ) {}

  get busy(): boolean {
    return this.runningOut !== undefined;
  }

  /** Sidecar shutting down: stop between tensors, so the quantizer removes its temporary folder. */
  cancel(): void {
    this.running?.cancel();
  }

  async run(params: QuantizeParams, cancel: AbortSignal): Promise<QuantizeResult> {
    checkQuantizeParams(params);
    if (this.runningOut !== undefined) {
      throw new ResponseError(
        LocalMoeErrorCodes.QuantizeBusy,
        `a quantization into ${this.runningOut} is still running: wait for it or cancel it first`,
      );
    }
    this.runningOut = params.outDir;
    try {
      return await this.quantize(params, cancel);
    } finally {
      this.runningOut = undefined;
    }
  }

  private async quantize(params: QuantizeParams, cancel: AbortSignal): Promise<QuantizeResult> {
    let addon: AddonModule;
    try {
      addon = this.loadAddon();
    } catch (err) {
      throw new ResponseError(LocalMoeErrorCodes.QuantizeFailed, messageOf(err));
    }
    this.log.info(
      `quantizing ${params.modelDir} → ${params.outDir} (${params.preset}, ${params.method ?? 'hqq'})`,
    );
    let lastSent = 0;
    const onProgress = (p: QuantizeProgress): void => {
      const now = Date.now();
      if (now - lastSent < PROGRESS_INTERVAL_MS && p.tensorsDone < p.tensorsTotal) return;
      lastSent = now;
      this.notify({ progressId: params.progressId, ...p });
    };
    const task = addon.quantize(
      {
        modelDir: params.modelDir,
        outDir: params.outDir,
        preset: params.preset,
        method: params.method,
        threads: params.threads ?? 0,
      },
      onProgress,
    );
    this.running = task;
    const onCancel = (): void => task.cancel();
    if (cancel.aborted) onCancel();
    else cancel.addEventListener('abort', onCancel, { once: true });
    try {
      const s = await task;
      this.log.info(
        `quantized ${s.quantized} tensors (${s.kept} kept) into ${s.outDir} in ${s.seconds.toFixed(1)} s`,
      );
      return {
        status: 'done',
        outDir: s.outDir,
        quantized: s.quantized,
        kept: s.kept,
        bytesIn: s.bytesIn,
        bytesOut: s.bytesOut,
        seconds: s.seconds,
        notes: s.notes,
      };
    } catch (err) {
      if (isAddonError(err) && err.code === 'ERR_LOCALMOE_CANCELLED') {
        this.log.info(`quantization cancelled: ${err.message}`);
        return {
          status: 'cancelled',
          outDir: params.outDir,
          quantized: 0,
          kept: 0,
          bytesIn: 0,
          bytesOut: 0,
          seconds: 0,
          notes: [],
        };
      }
      const message = messageOf(err);
      this.log.error(`quantize failed: ${message}`);
      throw new ResponseError(LocalMoeErrorCodes.QuantizeFailed, message);
    } finally {
      this.running = undefined;
      cancel.removeEventListener('abort', onCancel);
    }
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
