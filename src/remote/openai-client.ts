// A client for any OpenAI-compatible server (LocalMoE's own endpoint, llama.cpp's server, vLLM,
// Ollama, OpenAI): lists models and streams chat and text completions. Pure Node (global fetch);
// no `vscode`, so it is tested against a real server in plain mocha and used by the extension's
// remote-engine mode (see remote-engine.ts).
import { SseParser } from './sse-parser';

export interface RemoteClientOptions {
  /** Base URL including the version segment, e.g. "http://127.0.0.1:8080/v1". */
  baseUrl: string;
  /** Sent as "Authorization: Bearer <apiKey>" when set. */
  apiKey?: string;
  /** Model name sent with each request; default: the first of GET /models. */
  model?: string;
  /** Replaceable for tests or proxies; default global fetch. */
  fetch?: typeof fetch;
}

export interface RemoteSampling {
  maxTokens: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  stop?: string[];
}

export interface RemoteChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface RemoteUsage {
  promptTokens: number;
  completionTokens: number;
}

export interface RemoteResult {
  text: string;
  /** 'cancelled' when the caller's signal aborted the request (text holds what arrived). */
  finishReason: 'stop' | 'length' | 'cancelled';
  /** From the server's usage chunk; undefined when the server sends none. */
  usage: RemoteUsage | undefined;
  /** Client-side timing: request start to first text, and first to last text. */
  firstTextMs: number | undefined;
  streamMs: number;
}

/** An error the server answered (status >= 400 or an error event) or a failure to reach it (status 0). */
export class RemoteApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly type: string | null = null,
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'RemoteApiError';
  }
}

interface ErrorPayload {
  error?: { message?: unknown; type?: unknown; code?: unknown; param?: unknown };
}

interface StreamChoice {
  delta?: { content?: unknown };
  text?: unknown;
  finish_reason?: unknown;
}

interface StreamPayload extends ErrorPayload {
  choices?: StreamChoice[];
  usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } | null;
}

export class OpenAiClient {
  private readonly baseUrl: string;
  private readonly fetchFn: typeof fetch;

  constructor(private readonly options: RemoteClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.fetchFn = options.fetch ?? fetch;
  }

  /** Model ids the server offers. */
  async listModels(signal?: AbortSignal): Promise<string[]> {
    const res = await this.request('GET', '/models', undefined, signal);
    const body = (await res.json()) as { data?: { id?: unknown }[] };
    if (!Array.isArray(body.data))
      throw new RemoteApiError(`${this.baseUrl}/models did not return a model list`, res.status);
    return body.data.map((m) => m.id).filter((id): id is string => typeof id === 'string');
  }

  /** Streams a chat reply; `onText` gets each piece as it arrives. */
  chat(
    messages: readonly RemoteChatMessage[],
    sampling: RemoteSampling,
    onText: (text: string) => void,
    signal?: AbortSignal,
  ): Promise<RemoteResult> {
    return this.stream('/chat/completions', { messages }, sampling, onText, signal);
  }

  /** Streams a plain continuation of `prompt`. */
  complete(
    prompt: string,
    sampling: RemoteSampling,
    onText: (text: string) => void,
    signal?: AbortSignal,
  ): Promise<RemoteResult> {
    return this.stream('/completions', { prompt }, sampling, onText, signal);
  }

  private async stream(
    path: string,
    input: Record<string, unknown>,
    sampling: RemoteSampling,
    onText: (text: string) => void,
    signal: AbortSignal | undefined,
  ): Promise<RemoteResult> {
    const model = this.options.model ?? (await this.listModels(signal))[0];
    const body = {
      model,
      ...input,
      max_tokens: sampling.maxTokens,
      temperature: sampling.temperature,
      top_p: sampling.topP,
      seed: sampling.seed,
      stop: sampling.stop && sampling.stop.length > 0 ? sampling.stop : undefined,
      stream: true,
      stream_options: { include_usage: true },
    };
    const started = Date.now();
    let text = '';
    let firstAt: number | undefined;
    let lastAt = started;
    let finish: RemoteResult['finishReason'] | undefined;
    let usage: RemoteUsage | undefined;
    const result = (reason: RemoteResult['finishReason']): RemoteResult => ({
      text,
      finishReason: reason,
      usage,
      firstTextMs: firstAt === undefined ? undefined : firstAt - started,
      streamMs: firstAt === undefined ? 0 : lastAt - firstAt,
    });
    let res: Response;
    try {
      res = await this.request('POST', path, body, signal);
    } catch (err) {
      if (signal?.aborted) return result('cancelled');
      throw err;
    }
    if (!res.body) throw new RemoteApiError(`${this.baseUrl}${path} sent no body`, res.status);
    const parser = new SseParser();
    const decoder = new TextDecoder();
    const handle = (data: string): boolean => {
      if (data === '[DONE]') return true;
      let payload: StreamPayload;
      try {
        payload = JSON.parse(data) as StreamPayload;
      } catch {
        throw new RemoteApiError(
          `${this.baseUrl}${path} sent a malformed stream event`,
          res.status,
        );
      }
      if (payload.error) throw errorFrom(payload, res.status, `${this.baseUrl}${path}`);
      const choice = payload.choices?.[0];
      const piece = choice ? (choice.delta?.content ?? choice.text) : undefined;
      if (typeof piece === 'string' && piece.length > 0) {
        text += piece;
        lastAt = Date.now();
        firstAt ??= lastAt;
        onText(piece);
      }
      if (choice?.finish_reason === 'length') finish = 'length';
      else if (typeof choice?.finish_reason === 'string') finish = 'stop';
      const u = payload.usage;
      if (u && typeof u.prompt_tokens === 'number' && typeof u.completion_tokens === 'number')
        usage = { promptTokens: u.prompt_tokens, completionTokens: u.completion_tokens };
      return false;
    };
    const reader = res.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        const events = done ? parser.end() : parser.push(decoder.decode(value, { stream: true }));
        for (const data of events) {
          if (handle(data)) return result(finish ?? 'stop');
          // Cancelled from onText: stop here even if the rest of the answer is already buffered.
          if (signal?.aborted) return result('cancelled');
        }
        if (done) break;
      }
    } catch (err) {
      if (signal?.aborted) return result('cancelled');
      if (err instanceof RemoteApiError) throw err;
      throw new RemoteApiError(
        `the stream from ${this.baseUrl}${path} broke: ${messageOf(err)}`,
        0,
      );
    } finally {
      // Frees the connection when we stop before the body ended ([DONE] seen, error event).
      reader.cancel().catch(() => undefined);
    }
    if (signal?.aborted) return result('cancelled');
    // Some servers end the body without [DONE]; a finish_reason is then enough.
    if (finish) return result(finish);
    throw new RemoteApiError(`the stream from ${this.baseUrl}${path} ended early`, res.status);
  }

  private async request(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    const url = `${this.baseUrl}${path}`;
    const headers: Record<string, string> = { Accept: 'application/json, text/event-stream' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (this.options.apiKey) headers.Authorization = `Bearer ${this.options.apiKey}`;
    let res: Response;
    try {
      res = await this.fetchFn(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new RemoteApiError(`cannot reach ${url}: ${messageOf(err)}`, 0);
    }
    if (res.ok) return res;
    let payload: ErrorPayload = {};
    try {
      payload = (await res.json()) as ErrorPayload;
    } catch {
      // not JSON: the status says enough
    }
    throw errorFrom(payload, res.status, url);
  }
}

function errorFrom(payload: ErrorPayload, status: number, url: string): RemoteApiError {
  const e = payload.error ?? {};
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  const hint = status === 401 ? ' (check the API key)' : '';
  return new RemoteApiError(
    `${url} answered ${status || 'an error'}: ${str(e.message) ?? 'no details'}${hint}`,
    status,
    str(e.type),
    str(e.code),
    str(e.param),
  );
}

function messageOf(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message} (${cause.message})` : err.message;
  }
  return String(err);
}
