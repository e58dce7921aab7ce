// The native addon's JavaScript surface (native/addon/*.cpp), declared once so the sidecar is
// typed up to the boundary. Mirrors native/include/localmoe/engine.h. Keep the two in step.

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
  bosTokenId: number;
  eosTokenId: number;
  weightDtype: string;
  device: DeviceKind;
  /** Bytes of weights + KV cache held by the engine. */
  memoryBytes: number;
}

export interface LoadOptions {
  modelDir: string;
  device?: DeviceKind;
  /** 0 = all hardware threads. */
  threads?: number;
  maxContext?: number;
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
   * Generates on a worker thread. `onToken` is called on the JS thread for each token (never
   * blocking decoding; return value ignored). Rejects with the engine's message on failure.
   */
  generate(options: GenerateOptions, onToken: (token: number) => void): Promise<GenerateResult>;
  /** Asks the running generate() to stop; it resolves with stopReason 'cancelled' within a token. */
  cancel(): void;
  /** Float32 logits of every prompt position, row-major [tokens.length, vocab]. */
  promptLogits(tokens: number[]): Promise<Float32Array>;
  counters(): EngineCounters;
  resetCounters(): void;
  /** Frees the model now; any later call throws. Idempotent. */
  unload(): void;
}

export interface AddonModule {
  /** Loads a model folder on a worker thread; rejects with an actionable message. */
  load(options: LoadOptions): Promise<NativeEngine>;
  /** Engine version and the backends compiled in, e.g. { version: '0.1.0', backends: ['cpu'] }. */
  buildInfo(): { version: string; backends: DeviceKind[] };
}
