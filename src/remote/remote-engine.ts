// Remote engine mode: the protocol's localmoe/complete and localmoe/chat answered by an
// OpenAI-compatible server instead of the local sidecar. Same params in, same GenerationResult out,
// so the extension's completion and chat code can call either. No `vscode` import: the extension
// supplies the URL, the API key (from SecretStorage) and the cancellation signal.
import type { ChatParams, CompleteParams, FinishReason, GenerationResult } from '../protocol';
import { buildCompletionPrompt } from '../sidecar/completion-prompt';
import { OpenAiClient, type RemoteClientOptions, type RemoteResult } from './openai-client';

export class RemoteEngine {
  readonly client: OpenAiClient;

  constructor(options: RemoteClientOptions) {
    this.client = new OpenAiClient(options);
  }

  /**
   * Inline completion with the same prompt design as the local engine (header comments + prefix,
   * suffix-derived stop), sent to /v1/completions. The prefix is not token-fitted (the server has
   * the tokenizer): the client's character limit on the prefix is what bounds it.
   */
  complete(
    params: CompleteParams,
    signal?: AbortSignal,
    onDelta?: (delta: string) => void,
  ): Promise<GenerationResult> {
    const prompt = buildCompletionPrompt(params);
    return this.run(params.timeBudgetMs, signal, (s) =>
      this.client.complete(
        prompt.header + prompt.body,
        { ...sampling(params), stop: [...(params.stop ?? []), ...prompt.stops].slice(0, 4) },
        onDelta ?? noop,
        s,
      ),
    );
  }

  /** Chat through the server's /v1/chat/completions (the server applies its model's template). */
  chat(
    params: ChatParams,
    signal?: AbortSignal,
    onDelta?: (delta: string) => void,
  ): Promise<GenerationResult> {
    return this.run(params.timeBudgetMs, signal, (s) =>
      this.client.chat(params.messages, sampling(params), onDelta ?? noop, s),
    );
  }

  private async run(
    timeBudgetMs: number | undefined,
    signal: AbortSignal | undefined,
    call: (signal: AbortSignal) => Promise<RemoteResult>,
  ): Promise<GenerationResult> {
    const budget =
      timeBudgetMs !== undefined && timeBudgetMs > 0
        ? AbortSignal.timeout(timeBudgetMs)
        : undefined;
    const combined = AbortSignal.any([signal, budget].filter((s): s is AbortSignal => !!s));
    const r = await call(combined);
    const timedOut = budget?.aborted === true && signal?.aborted !== true;
    const finishReason: FinishReason =
      r.finishReason === 'cancelled' ? (timedOut ? 'time' : 'cancelled') : r.finishReason;
    const completionTokens = r.usage?.completionTokens ?? 0;
    return {
      text: r.text,
      finishReason,
      promptTokens: r.usage?.promptTokens ?? 0,
      completionTokens,
      // Remote servers expose no engine counters: these two are measured here, on the client.
      ttftMs: r.firstTextMs ?? 0,
      tokensPerSecond:
        r.streamMs > 0 && completionTokens > 1 ? ((completionTokens - 1) * 1000) / r.streamMs : 0,
    };
  }
}

function sampling(p: CompleteParams | ChatParams) {
  return {
    maxTokens: p.maxTokens,
    temperature: p.temperature,
    topP: p.topP,
    seed: p.seed,
    stop: p.stop,
  };
}

function noop(): void {}
