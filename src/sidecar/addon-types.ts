// The native addon's JavaScript surface (native/addon/*.cpp), declared once so the sidecar is
// typed up to the boundary. Mirrors native/include/localmoe/engine.h. Keep the two in step.
//
// Errors: promise-returning methods never throw, they reject; synchronous methods throw. Every
// error the addon makes carries a `code` (see AddonErrorCode); engine errors (lm::Error) keep the
// engine's message, which is written for the user.

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
}

export type StopReason = 'max_tokens' | 'stop_token' | 'cancelled' | 'context_full';

export interface GenerateResult {
  tokens: number[];
  stopReason: StopReason;
  promptTokens: number;
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

/**
 * `code` of the errors the addon makes:
 * - ERR_LOCALMOE_ENGINE: the engine rejected the input (lm::Error): bad folder, corrupt file, bad option.
 * - ERR_LOCALMOE_NATIVE: any other native exception (a bug or resource failure); `call` names the call.
 * - ERR_LOCALMOE_STATE: misuse: the engine was unloaded, or another run is still going on it.
 * Bad argument types reject/throw a plain TypeError.
 */
export type AddonErrorCode = 'ERR_LOCALMOE_ENGINE' | 'ERR_LOCALMOE_NATIVE' | 'ERR_LOCALMOE_STATE';

export interface AddonError extends Error {
  code: AddonErrorCode;
  /** The native call that failed: 'load' | 'generate' | 'promptLogits' (engine and native errors). */
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
  /** Engine version and the backends compiled in, e.g. { version: '0.1.0', backends: ['cpu'] }. */
  buildInfo(): { version: string; backends: DeviceKind[] };
}
