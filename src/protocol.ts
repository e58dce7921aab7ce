// The JSON-RPC contract between the extension (client) and the sidecar (server), over stdio with
// vscode-jsonrpc. Both processes compile against this one file; it imports nothing from `vscode`.
// Methods are namespaced `localmoe/…`. Streaming results arrive as notifications tagged with the
// request's `streamId`; a request's final response carries the totals.
import { NotificationType, RequestType, RequestType0 } from 'vscode-jsonrpc';

export const PROTOCOL_VERSION = 1;

/**
 * JSON-RPC error codes of `localmoe/…` requests (ResponseError.code), besides the standard ones
 * (-32602 InvalidParams for malformed params). The message always says what the user can do.
 */
export const LocalMoeErrorCodes = {
  /** initialize failed: bad model folder, corrupt weights, tokenizer mismatch, missing addon. */
  ModelLoadFailed: -32001,
  /** A generation request arrived before a successful initialize. */
  NotInitialized: -32002,
  /** The engine failed during generation (the sidecar stays up; the model stays loaded). */
  GenerationFailed: -32003,
  /** localmoe/serve could not start the HTTP endpoint (port in use, no permission). */
  ServeFailed: -32004,
  /** localmoe/quantize failed (bad input folder, output exists, disk full); nothing was written. */
  QuantizeFailed: -32005,
  /** localmoe/quantize arrived while another quantization runs (one at a time). */
  QuantizeBusy: -32006,
} as const;

// ---------- lifecycle ----------

/** Params of `localmoe/initialize`. */
export interface InitializeParams {
  protocolVersion: number;
  /** Model folder; empty = LOCALMOE_MODEL from the sidecar's environment, else the embedded model. */
  modelPath: string;
  /** 'auto' = CUDA when the addon was built with it, else CPU. */
  device: 'auto' | 'cpu' | 'cuda';
  /** Worker threads for the CPU backend; 0 = all cores. */
  threads: number;
  maxContext: number;
  /** Expert-offloading options (added by the ui developer). CUDA backend only: the CPU backend
   * keeps every expert in RAM and ignores them. Absent = engine defaults. */
  offload?: OffloadOptions;
}

export interface OffloadOptions {
  /** VRAM the engine may use for weights, KV cache and expert cache, in bytes; 0 = auto. */
  vramBudgetBytes: number;
  /** Eviction policy of the per-layer expert cache. */
  cachePolicy: 'lru' | 'lfu';
  /** Predict the next layer's experts and prefetch them while the current layer computes. */
  speculativeLoading: boolean;
}

export interface ModelSummary {
  path: string;
  name: string;
  architecture: string;
  numLayers: number;
  numExperts: number;
  expertsPerToken: number;
  vocabSize: number;
  weightDtype: string;
  device: 'cpu' | 'cuda';
}

export interface InitializeResult {
  protocolVersion: number;
  engineVersion: string;
  backends: string[];
  model: ModelSummary;
  loadMs: number;
}

/** Loads (or reloads) the model. Progress arrives as `localmoe/status` notifications. */
export const initializeRequest = new RequestType<InitializeParams, InitializeResult, void>(
  'localmoe/initialize',
);

/** Cancels all work and frees the model; the sidecar exits right after answering. */
export const shutdownRequest = new RequestType0<void, void>('localmoe/shutdown');

/** Liveness probe; `ok` is true once a model is loaded. */
export interface HealthResult {
  ok: boolean;
  uptimeMs: number;
  busy: boolean;
}
export const healthRequest = new RequestType0<HealthResult, void>('localmoe/health');

// ---------- generation ----------

export interface SamplingParams {
  maxTokens: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  repetitionPenalty?: number;
  seed?: number;
  /** Text stop sequences, applied to decoded text. */
  stop?: string[];
  /** Wall-clock budget for the whole request in ms; generation stops when it runs out. */
  timeBudgetMs?: number;
}

export interface CompleteParams extends SamplingParams {
  /** Text before the cursor (already trimmed to the context budget by the client). */
  prefix: string;
  /** Text after the cursor. */
  suffix: string;
  languageId: string;
  /** Relative file path, shown to the model as context. */
  fileName?: string;
  /** Client-chosen id; stream notifications carry it. */
  streamId: string;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatParams extends SamplingParams {
  messages: ChatMessage[];
  streamId: string;
}

export type FinishReason = 'stop' | 'length' | 'cancelled' | 'time' | 'error';

export interface GenerationResult {
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  /** Engine time to first token (prefill) in ms. */
  ttftMs: number;
  /** Decode tokens per second, from the engine's counters. */
  tokensPerSecond: number;
  /**
   * Engine compute time in ms: prefill + decode of every engine run of the request, from the
   * engine's counters (queueing, tokenization and IPC excluded). Lets the editor tell its own
   * overhead from the model's time. Absent where no engine counters exist (remote mode).
   */
  engineMs?: number;
}

/**
 * Inline completion: a newer complete request cancels an older one still queued or running (the
 * older one answers with finishReason 'cancelled'); $/cancelRequest stops it within one token.
 * Completions run before queued chats. The prompt is plain continuation of the prefix (the model
 * has no fill-in-the-middle training): see src/sidecar/completion-prompt.ts. The text also streams
 * as `localmoe/stream` notifications with the request's streamId (consuming them is optional).
 */
export const completeRequest = new RequestType<CompleteParams, GenerationResult, void>(
  'localmoe/complete',
);

/**
 * Chat: text streams as `localmoe/stream` notifications; the response carries the totals and its
 * `text` equals the concatenated deltas. Uses the model's chat template; system messages are folded
 * into the first user message when the template has no system role. Oldest turns are dropped when
 * the conversation does not fit the context.
 */
export const chatRequest = new RequestType<ChatParams, GenerationResult, void>('localmoe/chat');

export interface StreamChunk {
  streamId: string;
  /** Newly decoded text (complete UTF-8 characters only). */
  delta: string;
}
export const streamNotification = new NotificationType<StreamChunk>('localmoe/stream');

// ---------- OpenAI-compatible HTTP endpoint ----------

/** Params of `localmoe/serve`. */
export interface ServeParams {
  /** true: start the endpoint (or restart it with new settings); false: stop it. */
  enabled: boolean;
  /** TCP port on 127.0.0.1; 0 or absent = any free port (the result says which). */
  port?: number;
  /** Only '127.0.0.1' (or 'localhost') is accepted: any other host is refused with an error. */
  host?: string;
  /**
   * Bearer token clients must send; absent = a fresh random one. Pass a stored one (SecretStorage)
   * so tools configured with it keep working across editor restarts. At least 16 characters.
   */
  token?: string;
  /** Most HTTP requests in flight at once (queued or generating); more get 429. Default 4. */
  maxConcurrentRequests?: number;
}

export interface ServeResult {
  enabled: boolean;
  /** Base URL for OpenAI clients, e.g. "http://127.0.0.1:43210/v1"; null when stopped. */
  url: string | null;
  /** The bearer token ("Authorization: Bearer <token>"); null when stopped. */
  token: string | null;
}

/**
 * Starts, restarts or stops the OpenAI-compatible HTTP endpoint (GET /v1/models,
 * POST /v1/chat/completions, POST /v1/completions; see src/sidecar/http/README.md). Off until this
 * is sent. Its requests share the sidecar's one scheduler with editor requests: they queue like chat
 * requests (after pending inline completions, never superseding each other), and a client that
 * disconnects cancels its generation. Errors: InvalidParams for a non-loopback host, a bad port or a
 * weak token (the running endpoint is left as it was); ServeFailed when the port cannot be bound
 * (e.g. in use): the endpoint is then off.
 */
export const serveRequest = new RequestType<ServeParams, ServeResult, void>('localmoe/serve');

// ---------- quantization ----------

/** Presets of native/quant/presets.h (experts / attention HQQ settings). */
export type QuantizePreset = 'paper-2bit' | 'paper-3bit' | '4bit' | '2bit-g64';

/** Params of `localmoe/quantize`. */
export interface QuantizeParams {
  /** Hugging Face checkpoint folder (config.json, bf16/fp16/fp32 *.safetensors, tokenizer files). */
  modelDir: string;
  /** New folder for the quantized model; must not exist (its parent must). */
  outDir: string;
  preset: QuantizePreset;
  /** 'hqq' (default) or the round-to-nearest baseline 'rtn'. */
  method?: 'hqq' | 'rtn';
  /** Quantizer threads; 0 or absent = all cores. */
  threads?: number;
  /** Client-chosen id; `localmoe/quantizeProgress` notifications carry it. */
  progressId: string;
}

export interface QuantizeResult {
  /** 'done': outDir holds the model; 'cancelled': nothing was written. */
  status: 'done' | 'cancelled';
  outDir: string;
  /** Tensors quantized / kept 16-bit (0 when cancelled). */
  quantized: number;
  kept: number;
  bytesIn: number;
  bytesOut: number;
  seconds: number;
  /** Lowered groups and kept weights, "name: why". */
  notes: string[];
}

/**
 * Quantizes a checkpoint folder into the quantized model format (native/quant/README.md). Needs no
 * loaded model (may be sent before localmoe/initialize) and runs beside the generation queue, on its
 * own worker thread. One at a time: a second request while one runs fails with QuantizeBusy.
 * $/cancelRequest stops it between tensors and answers with status 'cancelled' (the temporary folder
 * is removed; outDir is complete or absent, never half-written). Errors: InvalidParams for malformed
 * params; QuantizeFailed with the engine's message (no config.json, outDir exists, unknown preset).
 */
export const quantizeRequest = new RequestType<QuantizeParams, QuantizeResult, void>(
  'localmoe/quantize',
);

export interface QuantizeProgressParams {
  progressId: string;
  tensorsDone: number;
  tensorsTotal: number;
  bytesInDone: number;
  bytesInTotal: number;
  bytesOut: number;
  elapsedS: number;
  /** Seconds left (extrapolated from source bytes); null until known. */
  etaS: number | null;
  /** Tensor just finished. */
  current: string;
}

/** Sent by the sidecar after each quantized tensor, at most every 100 ms (the last one always). */
export const quantizeProgressNotification = new NotificationType<QuantizeProgressParams>(
  'localmoe/quantizeProgress',
);

// ---------- status ----------

export type EngineHealth = 'starting' | 'loading' | 'ready' | 'busy' | 'error';

export interface EngineStatus {
  health: EngineHealth;
  message: string;
  /** 0..1 while loading. */
  progress?: number;
  model?: ModelSummary;
  counters?: StatusCounters;
}

/** Figures copied from the engine's own counters; never computed by the UI. */
export interface StatusCounters {
  promptTokens: number;
  generatedTokens: number;
  lastTokensPerSecond: number;
  lastTtftMs: number;
  /** Bytes of weights + KV cache held by the engine. */
  memoryBytes: number;
  /** VRAM in use and budget in bytes (0 on the CPU backend). */
  vramUsedBytes: number;
  vramBudgetBytes: number;
  /** Expert cache hit rate 0..1, or null when every expert is resident (no cache in play). */
  expertCacheHitRate: number | null;
  /** expertUsage[l][e]: tokens routed to expert e in layer l since load. */
  expertUsage: number[][];
  /** The engine's expert-cache counters since load; absent when the addon does not report them. */
  cache?: CacheCounters;
  /** VRAM by use, in bytes (all zero on the CPU); absent when the addon does not report them. */
  vram?: VramCounters;
  /** Prompt tokens whose KV was reused instead of recomputed; absent when not reported. */
  reusedPromptTokens?: number;
  /** KV slots evicted to make room; absent when not reported. */
  kvSlotEvictions?: number;
}

/** Mirrors the addon's `counters().cache` (native/addon/convert.cpp counters_to_js). */
export interface CacheCounters {
  hits: number;
  misses: number;
  /** slots[l] = expert ids cached in layer l, -1 = empty slot; [] when there is no cache. */
  slots: number[][];
  // The rest are optional: an addon build that does not count one leaves it out (never 0 for unknown).
  /** Missed experts computed on the CPU where they lie instead of copied. */
  cpuComputed?: number;
  prefetchIssued?: number;
  prefetchUsed?: number;
  prefetchWasted?: number;
  bytesCopied?: number;
  copyMs?: number;
  /** Time compute waited for expert copies. */
  computeWaitMs?: number;
}

/** Mirrors the addon's `counters().vram`: bytes by use and the budget. */
export interface VramCounters {
  dense: number;
  experts: number;
  kvCache: number;
  workspace: number;
  budget: number;
}

/** Sent by the sidecar on health changes at once, and while generating at most every 250 ms. */
export const statusNotification = new NotificationType<EngineStatus>('localmoe/status');

export interface LogMessage {
  level: 'error' | 'warn' | 'info' | 'debug';
  message: string;
}
/** Reserved: the sidecar logs to stderr (forwarded by the extension); it sends no log notifications yet. */
export const logNotification = new NotificationType<LogMessage>('localmoe/log');
