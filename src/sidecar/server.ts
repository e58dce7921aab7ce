// The sidecar's JSON-RPC handlers (src/protocol.ts): model lifecycle, requests into the scheduler,
// status notifications. Transport-agnostic: main.ts hands it a connection over stdio.
import * as path from 'node:path';
import {
  ErrorCodes,
  ResponseError,
  type CancellationToken,
  type MessageConnection,
  type NotificationType,
} from 'vscode-jsonrpc';
import {
  LocalMoeErrorCodes,
  PROTOCOL_VERSION,
  chatRequest,
  completeRequest,
  healthRequest,
  initializeRequest,
  quantizeProgressNotification,
  quantizeRequest,
  serveRequest,
  shutdownRequest,
  statusNotification,
  streamNotification,
  type ChatParams,
  type CompleteParams,
  type EngineHealth,
  type GenerationResult,
  type HealthResult,
  type InitializeParams,
  type InitializeResult,
  type ModelSummary,
  type SamplingParams,
  type ServeParams,
  type ServeResult,
} from '../protocol';
import type { AddonModule, DeviceKind } from './addon-types';
import { ChatTemplate } from './chat-template';
import { fitChat } from './chat-prompt';
import { buildCompletionPrompt, fitPrompt } from './completion-prompt';
import { Engine } from './engine';
import { KV_SLOT, droppedResult, runGeneration } from './generation';
import type { Logger } from './log';
import { checkModelFolder, resolveModelPath } from './model-path';
import { QuantizeService } from './quantize';
import { Scheduler, type JobKind, type JobTurn } from './scheduler';
import { buildStatus, lastRunOf, modelSummary, type LastRun } from './status';
import type { ApiBackend, TextPromptParams } from './http/backend';
import { HttpEndpoint } from './http/endpoint';
import { Throttle } from './throttle';
import type { IncrementalEncoder } from './incremental-encoder';
import { ModelTokenizer } from './tokenizer';
import {
  checkChatParams,
  checkCompleteParams,
  checkInitializeParams,
  checkServeParams,
} from './validate';

export interface ServerOptions {
  /** The JSON-RPC client; absent when the CLI drives the server (HTTP endpoint only). */
  connection?: MessageConnection;
  /** Loads the native addon (lazily: a missing addon is an initialize error, not a crash). */
  loadAddon: () => AddonModule;
  log: Logger;
  /** Ends the process (after shutdown). */
  exit: (code: number) => void;
  env?: NodeJS.ProcessEnv;
  /** Folder the embedded model is resolved against (the bundle's folder). */
  baseDir?: string;
}

interface LoadedModel {
  dir: string;
  engine: Engine;
  tokenizer: ModelTokenizer;
  /** Completion prompts only: re-tokenizes just the lines after the last change (issue #10). */
  completionEncoder: IncrementalEncoder;
  /** Undefined when the model has no chat template (chat requests then fail with the reason). */
  chatTemplate: ChatTemplate | undefined;
  chatTemplateError: string | undefined;
  summary: ModelSummary;
  /** Tokens the KV cache holds: prompt + reply must fit. */
  contextTokens: number;
}

/** Status notifications while generating: at most 4 per second. */
const STATUS_INTERVAL_MS = 250;
/** How long shutdown waits for its response to be written before the process exits. */
const EXIT_GRACE_MS = 100;

export class SidecarServer implements ApiBackend {
  private model: LoadedModel | undefined;
  private addon: AddonModule | undefined;
  private health: EngineHealth = 'starting';
  private message = 'starting';
  private last: LastRun | undefined;
  private readonly startedAt = Date.now();
  /** initialize calls run one after another. */
  private loadChain: Promise<unknown> = Promise.resolve();
  private readonly scheduler = new Scheduler({ onBusyChange: (busy) => this.onBusyChange(busy) });
  private readonly statusThrottle = new Throttle(STATUS_INTERVAL_MS, () => this.sendStatus());
  /** The OpenAI-compatible endpoint, off until localmoe/serve (or the CLI) starts it. */
  readonly http: HttpEndpoint;
  /** localmoe/quantize: beside the scheduler, needs no model. */
  private readonly quantizer: QuantizeService;

  constructor(private readonly options: ServerOptions) {
    this.http = new HttpEndpoint(this, options.log);
    this.quantizer = new QuantizeService(
      () => this.loadAddonOnce(),
      options.log,
      (progress) => this.notify(quantizeProgressNotification, progress),
    );
  }

  register(): void {
    const c = this.options.connection;
    if (!c) throw new Error('SidecarServer.register needs a JSON-RPC connection');
    c.onRequest(initializeRequest, (params) => this.loadModel(params));
    c.onRequest(completeRequest, (params, token) => this.complete(params, token));
    c.onRequest(chatRequest, (params, token) =>
      this.chat(params, abortSignalOf(token), (delta) =>
        this.notify(streamNotification, { streamId: params.streamId, delta }),
      ),
    );
    c.onRequest(healthRequest, () => this.healthResult());
    c.onRequest(serveRequest, (params) => this.serve(params));
    c.onRequest(quantizeRequest, (params, token) =>
      this.quantizer.run(params, abortSignalOf(token)),
    );
    c.onRequest(shutdownRequest, () => this.shutdown());
  }

  /** localmoe/initialize: loads (or reloads) a model; calls run one after another. */
  loadModel(params: InitializeParams): Promise<InitializeResult> {
    const run = this.loadChain.then(() => this.initialize(params));
    this.loadChain = run.catch(() => undefined);
    return run;
  }

  /** Frees the model (connection closed, process exiting). */
  dispose(): void {
    void this.http.stop();
    this.quantizer.cancel();
    this.scheduler.cancelAll('shutdown');
    this.statusThrottle.dispose();
    this.model?.engine.unload();
    this.model = undefined;
  }

  // ---------- lifecycle ----------

  private async initialize(params: InitializeParams): Promise<InitializeResult> {
    checkInitializeParams(params);
    if (params.protocolVersion !== PROTOCOL_VERSION) {
      throw new ResponseError(
        ErrorCodes.InvalidRequest,
        `protocol version ${params.protocolVersion} is not supported by this sidecar (${PROTOCOL_VERSION}): reinstall the extension`,
      );
    }
    const dir = resolveModelPath(
      params.modelPath,
      this.options.env ?? process.env,
      this.options.baseDir,
    );
    const started = Date.now();
    this.setHealth('loading', `loading ${dir}`);
    // A reload replaces the model: stop its work first (each job answers 'cancelled').
    this.scheduler.cancelAll('shutdown');
    this.model?.engine.unload();
    this.model = undefined;
    try {
      const addon = this.loadAddonOnce();
      checkModelFolder(dir);
      const build = addon.buildInfo();
      const device = resolveDevice(params.device, build.backends, build.cudaUnavailableReason);
      const engine = await Engine.load(addon, {
        modelDir: dir,
        device,
        // 0 means "engine default" in the protocol; the addon wants integers or nothing.
        threads: params.threads > 0 ? Math.floor(params.threads) : 0,
        maxContext: params.maxContext > 0 ? Math.floor(params.maxContext) : undefined,
        ...(device === 'cuda' && params.offload
          ? {
              vramBudgetBytes: Math.floor(params.offload.vramBudgetBytes),
              cachePolicy: params.offload.cachePolicy,
              speculativeLoading: params.offload.speculativeLoading,
            }
          : {}),
      });
      try {
        this.model = this.prepareModel(dir, engine, params.maxContext);
      } catch (err) {
        engine.unload();
        throw err;
      }
    } catch (err) {
      const message = errorMessage(err);
      this.options.log.error(`initialize failed: ${message}`);
      this.setHealth('error', message);
      throw new ResponseError(LocalMoeErrorCodes.ModelLoadFailed, message);
    }
    const loadMs = Date.now() - started;
    const { summary, chatTemplateError } = this.model;
    this.options.log.info(
      `loaded ${summary.name} (${summary.architecture}, ${summary.numLayers} layers, ${summary.numExperts} experts, ` +
        `${summary.weightDtype}, ${summary.device}${backendSuffix(this.model.engine.info.backendName)}) in ${loadMs} ms`,
    );
    if (params.offload && summary.device === 'cpu') {
      // The engine's offloading (expert cache, prefetch) is CUDA-only; on the CPU every expert is in RAM.
      this.options.log.info(
        'offload settings ignored: the CPU backend keeps every expert resident',
      );
    }
    if (chatTemplateError) this.options.log.warn(chatTemplateError);
    this.setHealth('ready', `${summary.name} ready`);
    const build = this.loadAddonOnce().buildInfo();
    return {
      protocolVersion: PROTOCOL_VERSION,
      engineVersion: build.version,
      backends: build.backends,
      model: summary,
      loadMs,
    };
  }

  private prepareModel(dir: string, engine: Engine, maxContext: number): LoadedModel {
    const tokenizer = ModelTokenizer.load(dir);
    if (tokenizer.vocabSize > engine.info.vocabSize) {
      throw new Error(
        `tokenizer.json in ${dir} has ${tokenizer.vocabSize} tokens but the model's vocab_size is ${engine.info.vocabSize}: ` +
          'the tokenizer does not belong to this model',
      );
    }
    this.options.log.info(
      tokenizer.newlineSplit
        ? 'completion prompts: incremental tokenization (newline is a token boundary)'
        : `completion prompts: full tokenization (${tokenizer.newlineSplitProblem ?? 'unknown'})`,
    );
    let chatTemplate: ChatTemplate | undefined;
    let chatTemplateError: string | undefined;
    try {
      chatTemplate = ChatTemplate.fromConfig(
        tokenizer.config,
        tokenizer.bosToken,
        tokenizer.eosToken,
        dir,
      );
    } catch (err) {
      chatTemplateError = errorMessage(err);
    }
    const contextTokens = Math.min(
      maxContext > 0 ? maxContext : Infinity,
      engine.info.maxPositionEmbeddings || Infinity,
    );
    return {
      dir,
      engine,
      tokenizer,
      completionEncoder: tokenizer.incrementalEncoder(),
      chatTemplate,
      chatTemplateError,
      summary: modelSummary(dir, path.basename(dir), engine.info),
      contextTokens: Number.isFinite(contextTokens) ? contextTokens : 4096,
    };
  }

  private loadAddonOnce(): AddonModule {
    this.addon ??= this.options.loadAddon();
    return this.addon;
  }

  /** localmoe/health; also read by the HTTP tests to see the scheduler go idle. */
  healthResult(): HealthResult {
    return {
      ok: this.model !== undefined,
      uptimeMs: Date.now() - this.startedAt,
      busy: this.scheduler.busy,
    };
  }

  private shutdown(): void {
    this.options.log.info('shutdown requested');
    this.dispose();
    setTimeout(() => this.options.exit(0), EXIT_GRACE_MS);
  }

  // ---------- generation ----------

  private complete(params: CompleteParams, token: CancellationToken): Promise<GenerationResult> {
    checkCompleteParams(params);
    return this.schedule(
      'complete',
      params,
      abortSignalOf(token),
      (model, signal, sampling, turn) => {
        const prompt = buildCompletionPrompt(params);
        const ids = fitPrompt(
          (text) => model.tokenizer.encode(text, { bos: true, via: model.completionEncoder }),
          prompt,
          promptBudget(model, params),
        );
        return runGeneration({
          engine: model.engine,
          decode: (x) => model.tokenizer.decode(x),
          prompt: ids,
          decodeContext: ids.slice(-3), // continuation: keep the first token's leading space
          sampling,
          stops: [...(params.stop ?? []), ...prompt.stops],
          signal,
          kvSlot: KV_SLOT.complete,
          turn,
          // Streamed too (protocol: stream notifications carry the streamId), for clients that
          // show a suggestion as it grows; a client that only awaits the result ignores them.
          onDelta: (delta) => this.notify(streamNotification, { streamId: params.streamId, delta }),
          onToken: () => this.statusThrottle.request(),
        });
      },
    );
  }

  /** Also the HTTP endpoint's chat (ApiBackend): one scheduler for editor and API requests. */
  chat(
    params: ChatParams,
    cancel: AbortSignal,
    onDelta: (delta: string) => void,
  ): Promise<GenerationResult> {
    checkChatParams(params);
    return this.schedule('chat', params, cancel, (model, signal, sampling, turn) => {
      const template = model.chatTemplate;
      if (!template)
        throw new ResponseError(
          LocalMoeErrorCodes.GenerationFailed,
          model.chatTemplateError ?? 'no chat template',
        );
      const ids = fitChat(
        params.messages,
        (messages) => model.tokenizer.encode(template.render(messages), { bos: false }),
        promptBudget(model, params),
      );
      return runGeneration({
        engine: model.engine,
        decode: (x) => model.tokenizer.decode(x),
        prompt: ids,
        decodeContext: [], // a reply starts fresh: its first space is stripped, as transformers does
        sampling,
        stops: params.stop ?? [],
        signal,
        kvSlot: KV_SLOT.chat, // chat and API text share a slot, and are preempted by completions
        turn,
        onDelta,
        onToken: () => this.statusThrottle.request(),
      });
    });
  }

  /**
   * The HTTP endpoint's /v1/completions (ApiBackend): the prompt is continued as given, without the
   * inline-completion prompt design. Scheduled as 'chat' work: API requests wait behind the user's
   * inline completions and never supersede one another (only editor completions do that).
   */
  continueText(
    params: TextPromptParams,
    cancel: AbortSignal,
    onDelta: (delta: string) => void,
  ): Promise<GenerationResult> {
    return this.schedule('chat', params, cancel, (model, signal, sampling, turn) => {
      const ids =
        typeof params.prompt === 'string'
          ? model.tokenizer.encode(params.prompt, { bos: true })
          : params.prompt;
      const vocab = model.engine.info.vocabSize;
      const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= vocab);
      if (bad !== undefined)
        throw new ResponseError(
          ErrorCodes.InvalidParams,
          `prompt token id ${bad} is outside the model's vocabulary (0..${vocab - 1})`,
        );
      const budget = promptBudget(model, params);
      if (ids.length === 0 || ids.length > budget)
        throw new ResponseError(
          ErrorCodes.InvalidParams,
          `the prompt is ${ids.length} tokens but 1..${budget} fit next to max_tokens: shorten it or lower max_tokens`,
        );
      return runGeneration({
        engine: model.engine,
        decode: (x) => model.tokenizer.decode(x),
        prompt: ids,
        decodeContext: ids.slice(-3), // continuation: keep the first token's leading space
        sampling,
        stops: params.stop ?? [],
        signal,
        kvSlot: KV_SLOT.chat, // chat and API text share a slot, and are preempted by completions
        turn,
        onDelta,
        onToken: () => this.statusThrottle.request(),
      });
    });
  }

  modelId(): string | undefined {
    return this.model?.summary.name;
  }

  // ---------- HTTP endpoint ----------

  private async serve(params: ServeParams): Promise<ServeResult> {
    checkServeParams(params);
    try {
      return params.enabled ? await this.http.start(params) : await this.http.stop();
    } catch (err) {
      const message = errorMessage(err);
      this.options.log.error(`localmoe/serve failed: ${message}`);
      throw new ResponseError(LocalMoeErrorCodes.ServeFailed, message);
    }
  }

  private async schedule(
    kind: JobKind,
    params: SamplingParams & { streamId: string },
    cancel: AbortSignal,
    run: (
      model: LoadedModel,
      signal: AbortSignal,
      sampling: SamplingParams,
      turn: JobTurn,
    ) => Promise<GenerationResult>,
  ): Promise<GenerationResult> {
    const arrived = Date.now();
    if (!this.model) {
      throw new ResponseError(
        LocalMoeErrorCodes.NotInitialized,
        this.health === 'error'
          ? `no model loaded: ${this.message}`
          : 'no model loaded yet: send localmoe/initialize first',
      );
    }
    const job = this.scheduler.submit(
      kind,
      async (signal, turn) => {
        // The model may have been replaced while this job waited.
        const model = this.model;
        if (!model) return droppedResult('shutdown');
        const started = Date.now();
        // The time budget covers the whole request, queueing included.
        const sampling = { ...params };
        if (params.timeBudgetMs !== undefined && params.timeBudgetMs > 0) {
          sampling.timeBudgetMs = params.timeBudgetMs - (started - arrived);
          if (sampling.timeBudgetMs <= 0) return droppedResult('time');
        }
        try {
          const result = await run(model, signal, sampling, turn);
          this.last = lastRunOf(result) ?? this.last;
          this.options.log.debug(
            `${kind} ${params.streamId}: ${result.completionTokens} tokens, ${result.finishReason}, ` +
              `ttft ${result.ttftMs.toFixed(0)} ms, ${result.tokensPerSecond.toFixed(1)} tok/s, ` +
              `engine ${(result.engineMs ?? 0).toFixed(0)} ms, ${Date.now() - started} ms`,
          );
          return result;
        } catch (err) {
          if (err instanceof ResponseError) throw err;
          const message = errorMessage(err);
          this.options.log.error(`${kind} ${params.streamId} failed: ${message}`);
          throw new ResponseError(LocalMoeErrorCodes.GenerationFailed, message);
        }
      },
      (reason) => droppedResult(reason),
    );
    const onCancel = () => job.cancel('client');
    if (cancel.aborted) onCancel();
    else cancel.addEventListener('abort', onCancel, { once: true });
    try {
      return await job.result;
    } finally {
      cancel.removeEventListener('abort', onCancel);
    }
  }

  // ---------- status ----------

  private onBusyChange(busy: boolean): void {
    if (!this.model || this.health === 'loading' || this.health === 'error') return;
    this.health = busy ? 'busy' : 'ready';
    this.message = busy ? 'generating' : `${this.model.summary.name} ready`;
    this.statusThrottle.flush();
  }

  private setHealth(health: EngineHealth, message: string): void {
    this.health = health;
    this.message = message;
    this.statusThrottle.flush();
  }

  private sendStatus(): void {
    const model = this.model;
    let source;
    if (model) {
      try {
        source = { info: model.engine.info, counters: model.engine.counters(), last: this.last };
      } catch {
        source = undefined; // unloaded between the check and the call: report without counters
      }
    }
    this.notify(statusNotification, buildStatus(this.health, this.message, model?.summary, source));
  }

  /**
   * Notifications are best effort: the client may be gone (it closed the pipe) while a run is
   * still emitting; that must not become an uncaught error in the sidecar.
   */
  private notify<P>(type: NotificationType<P>, params: P): void {
    try {
      this.options.connection?.sendNotification(type, params).catch(() => undefined);
    } catch {
      // connection already disposed
    }
  }
}

/** A JSON-RPC cancellation token as an AbortSignal (the scheduler's and the HTTP layer's currency). */
function abortSignalOf(token: CancellationToken): AbortSignal {
  const controller = new AbortController();
  if (token.isCancellationRequested) controller.abort();
  else token.onCancellationRequested(() => controller.abort());
  return controller.signal;
}

function backendSuffix(name: string | undefined): string {
  return name ? `, ${name}` : '';
}

function promptBudget(model: LoadedModel, params: SamplingParams): number {
  return Math.max(1, model.contextTokens - Math.max(0, Math.floor(params.maxTokens)));
}

/** 'auto' takes CUDA only when it is usable here; an explicit 'cuda' that is not says why. */
export function resolveDevice(
  requested: InitializeParams['device'],
  backends: DeviceKind[],
  cudaUnavailableReason = '',
): DeviceKind {
  if (requested === 'auto') return backends.includes('cuda') ? 'cuda' : 'cpu';
  if (!backends.includes(requested)) {
    const why =
      requested === 'cuda' && cudaUnavailableReason
        ? cudaUnavailableReason
        : `this build has no ${requested} backend`;
    throw new Error(
      `the ${requested} device cannot be used: ${why}. Set localmoe.device to 'auto' or 'cpu'`,
    );
  }
  return requested;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
