// The native addon's JavaScript surface (native/addon/*.cpp), declared once so the sidecar is
// typed up to the boundary. Mirrors native/include/localmoe/engine.h. Keep the two in step.
//
// Errors: promise-returning methods never throw, they reject; synchronous methods throw. Every
// error the addon makes carries a `code` (see AddonErrorCode); engine errors (lm::Error) keep the
// engine's message, which is written for the user.

import type { CacheCounters, VramCounters } from '../protocol';

export type DeviceKind = 'cpu' | 'cuda';

export interface ModelInfo {
  architecture: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  numExperts: number;
  expertsPerToken: number;
  maxPositionEmbeddings: number;
  slidingWindow: number;
  ropeTheta: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  bosTokenId: number;
  eosTokenId: number;
  weightDtype: string;
  device: DeviceKind;
  /** Backend and kernels running the model, e.g. "cpu-avx512 x2" (logs, benchmark rows). */
  backendName: string;
  /** Bytes of weights + KV cache held by the engine. */
  memoryBytes: number;
}

export interface LoadOptions {
  modelDir: string;
  device?: DeviceKind;
  /** 0 = all hardware threads. */
  threads?: number;
  maxContext?: number;
  /** Tokens per batched prefill step; 0 = engine default (bounds activation memory). */
  prefillChunk?: number;
  /** KV caches kept for prefix reuse (engine default 2: completions in 0, chat in 1); each costs a full KV cache. */
  kvSlots?: number;
  /** Expert offloading (CUDA + quantized model): VRAM for everything in bytes; 0 = auto, -1 = all experts resident. */
  vramBudgetBytes?: number;
  cachePolicy?: 'lru' | 'lfu';
  /** Prefetch the next layer's likely experts while this layer computes. */
  speculativeLoading?: boolean;
}

export interface SamplingOptions {
  temperature?: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  seed?: number;
}

export interface GenerateOptions extends SamplingOptions {
  prompt: number[];
  maxNewTokens: number;
  stopIds?: number[];
  stopAtEos?: boolean;
  /** KV cache to run in (0 <= kvSlot < kvSlots; default 0). Its longest common prefix with `prompt` is reused. */
  kvSlot?: number;
  /** false: prefill the whole prompt even when the slot holds a prefix of it (tests, benchmarks). Default true. */
  reusePrefix?: boolean;
}

export type StopReason = 'max_tokens' | 'stop_token' | 'cancelled' | 'context_full';

export interface GenerateResult {
  tokens: number[];
  stopReason: StopReason;
  promptTokens: number;
  /** Prompt tokens whose KV came from the slot (not prefilled). */
  reusedTokens: number;
  prefillMs: number;
  decodeMs: number;
}

export interface EngineCounters {
  promptTokens: number;
  generatedTokens: number;
  prefillMs: number;
  decodeMs: number;
  /** expertUsage[l][e] = tokens routed to expert e in layer l. */
  expertUsage: number[][];
  /** Expert-cache counters (optional: older addon builds lack them). */
  cache?: CacheCounters;
  /** VRAM bytes by use, all zero on the CPU (optional: older addon builds lack them). */
  vram?: VramCounters;
  /** Prompt tokens whose KV was reused (optional: older addon builds lack it). */
  reusedPromptTokens?: number;
  /** KV slots evicted (optional: older addon builds lack it). */
  kvSlotEvictions?: number;
}

/** A loaded model. Methods that run the model return Promises resolved off the JS thread. */
export interface NativeEngine {
  info(): ModelInfo;
  /**
   * Generates on a worker thread. `onToken` is called on the JS thread for each token, in order,
   * never blocking decoding (return value ignored); the promise settles after the last onToken call.
   * If onToken throws, generation stops and the promise rejects with that error. One run at a time
   * per engine: a second generate()/promptLogits() while one runs rejects (ERR_LOCALMOE_STATE).
   */
  generate(options: GenerateOptions, onToken: (token: number) => void): Promise<GenerateResult>;
  /** Asks the running generate() to stop; it resolves with stopReason 'cancelled' within a token. */
  cancel(): void;
  /** Float32 logits of every prompt position, row-major [tokens.length, vocab]. */
  promptLogits(tokens: number[]): Promise<Float32Array>;
  /** While a run is going, the snapshot the worker took between tokens (at most 100 ms old). */
  counters(): EngineCounters;
  /** Throws while a run is going. */
  resetCounters(): void;
  /**
   * Frees the model now (a running generate() is cancelled and frees it when it stops); any later
   * call throws / rejects with ERR_LOCALMOE_STATE. Idempotent.
   */
  unload(): void;
}

/** Options of `quantize()` (native/quant/quantize_model.h QuantizeOptions). */
export interface QuantizeOptions {
  /** Hugging Face checkpoint folder (config.json + bf16/fp16/fp32 safetensors). */
  modelDir: string;
  /** New folder to create; must not exist. Written as `<outDir>.partial-<pid>` and renamed at the end. */
  outDir: string;
  /** 'paper-2bit' | 'paper-3bit' | '4bit' | '2bit-g64' (native/quant/presets.h); others reject. */
  preset: string;
  /** 'hqq' (default): the half-quadratic solver; 'rtn': round-to-nearest baseline, for comparisons. */
  method?: 'hqq' | 'rtn';
  /** Quantizer threads; 0 or absent = all hardware threads. */
  threads?: number;
}

/** One progress event, sent after each tensor (never blocks the quantizer). */
export interface QuantizeProgress {
  tensorsDone: number;
  tensorsTotal: number;
  /** Source bytes processed so far / in all. */
  bytesInDone: number;
  bytesInTotal: number;
  /** Bytes written so far. */
  bytesOut: number;
  elapsedS: number;
  /** Seconds left, extrapolated from the source bytes done; null before the first bytes. */
  etaS: number | null;
  /** Name of the tensor just finished. */
  current: string;
}

export interface QuantizeSummary {
  /** The finished folder (= options.outDir). */
  outDir: string;
  /** Tensors quantized / kept 16-bit. */
  quantized: number;
  kept: number;
  shards: number;
  bytesIn: number;
  bytesOut: number;
  seconds: number;
  /** Lowered groups and kept weights, "name: why". */
  notes: string[];
}

/**
 * A running quantization: a promise with `cancel()`. cancel() sets an atomic flag the quantizer
 * polls between tensors; the promise then rejects with ERR_LOCALMOE_CANCELLED and the temporary
 * folder is gone. Calling it after the promise settled does nothing.
 */
export type QuantizeTask = Promise<QuantizeSummary> & { cancel(): void };

/**
 * `code` of the errors the addon makes:
 * - ERR_LOCALMOE_ENGINE: the engine rejected the input (lm::Error): bad folder, corrupt file, bad option.
 * - ERR_LOCALMOE_NATIVE: any other native exception (a bug or resource failure); `call` names the call.
 * - ERR_LOCALMOE_STATE: misuse: the engine was unloaded, or another run is still going on it.
 * - ERR_LOCALMOE_CANCELLED: quantize() was cancelled (nothing was written).
 * Bad argument types reject/throw a plain TypeError.
 */
export type AddonErrorCode =
  'ERR_LOCALMOE_ENGINE' | 'ERR_LOCALMOE_NATIVE' | 'ERR_LOCALMOE_STATE' | 'ERR_LOCALMOE_CANCELLED';

export interface AddonError extends Error {
  code: AddonErrorCode;
  /** The native call that failed: 'load' | 'generate' | 'promptLogits' | 'quantize'. */
  call?: string;
}

export function isAddonError(err: unknown): err is AddonError {
  return (
    err instanceof Error &&
    typeof (err as Partial<AddonError>).code === 'string' &&
    (err as AddonError).code.startsWith('ERR_LOCALMOE_')
  );
}

export interface AddonModule {
  /** Loads a model folder on a worker thread; rejects with an actionable message. */
  load(options: LoadOptions): Promise<NativeEngine>;
  /**
   * Quantizes a checkpoint folder on a worker thread; needs no loaded model. `onProgress` runs on
   * the JS thread after each tensor, in order; the promise settles after the last call. If it
   * throws, quantizing stops and the promise rejects with that error. Bad options reject with a
   * TypeError naming the field; engine errors (missing config.json, existing outDir, unknown preset)
   * with ERR_LOCALMOE_ENGINE and the engine's message.
   */
  quantize(
    options: QuantizeOptions,
    onProgress: (progress: QuantizeProgress) => void,
  ): QuantizeTask;
  /** Engine version and the backends compiled in, e.g. { version: '0.1.0', backends: ['cpu'] }. */
  buildInfo(): {
    version: string;
    /** Backends usable on this machine now (CUDA only with a GPU and driver present). */
    backends: DeviceKind[];
    cudaCompiled: boolean;
    /** Why CUDA cannot be used here; empty when it can. */
    cudaUnavailableReason: string;
  };
}
