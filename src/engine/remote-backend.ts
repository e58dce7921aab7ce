// Remote engine mode, as the extension uses it: a RemoteEngine (src/remote/) plus what the status
// bar shows of it — host, healthy/unreachable (from GET /models at start and after each failure)
// and the last request's client-measured ttft and tok/s. Pure (no `vscode`).
import type { ChatParams, CompleteParams, GenerationResult } from '../protocol';
import { RemoteApiError } from '../remote/openai-client';
import { RemoteEngine } from '../remote/remote-engine';

export type RemoteHealth = 'checking' | 'healthy' | 'unreachable';

export interface RemoteStatus {
  /** host:port of the server, for "remote: <host>". */
  host: string;
  baseUrl: string;
  health: RemoteHealth;
  /** Why it is unreachable, or the models it offers. */
  message: string;
  /** Measured on this side of the network (a remote server exposes no engine counters); 0 = none yet. */
  clientTtftMs: number;
  clientTokensPerSecond: number;
}

export interface RemoteSettings {
  /** As typed in localmoe.remote.url. */
  url: string;
  /** localmoe.remote.model; empty = the server's first model. */
  model: string;
  apiKey: string | undefined;
}

/**
 * The base URL the OpenAI client wants ("…/v1"): a bare server address gets "/v1" appended, a
 * trailing slash is dropped. Returns an error text for anything that is not an http(s) URL.
 */
export function normalizeRemoteUrl(
  raw: string,
): { baseUrl: string; host: string } | { error: string } {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return { error: `localmoe.remote.url "${raw}" is not a URL: use e.g. http://gpu-box:8808/v1` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return {
      error: `localmoe.remote.url must start with http:// or https:// (got ${url.protocol})`,
    };
  const pathname = url.pathname.replace(/\/+$/, '');
  url.pathname = pathname === '' ? '/v1' : pathname;
  return { baseUrl: url.toString().replace(/\/+$/, ''), host: url.host };
}

export class RemoteBackend {
  private readonly engine: RemoteEngine;
  private current: RemoteStatus;
  private checking: Promise<RemoteStatus> | undefined;

  constructor(
    baseUrl: string,
    host: string,
    settings: RemoteSettings,
    private readonly onChange: (status: RemoteStatus) => void,
    fetchImpl?: typeof fetch,
  ) {
    this.engine = new RemoteEngine({
      baseUrl,
      apiKey: settings.apiKey || undefined,
      model: settings.model || undefined,
      fetch: fetchImpl,
    });
    this.current = {
      host,
      baseUrl,
      health: 'checking',
      message: 'checking…',
      clientTtftMs: 0,
      clientTokensPerSecond: 0,
    };
  }

  get status(): RemoteStatus {
    return this.current;
  }

  /** GET /models: healthy when it answers with a list, unreachable otherwise. One at a time. */
  check(): Promise<RemoteStatus> {
    this.checking ??= this.engine.client
      .listModels(AbortSignal.timeout(10_000))
      .then(
        (models) =>
          this.update({ health: 'healthy', message: `models: ${models.join(', ') || '(none)'}` }),
        (err: unknown) => this.update({ health: 'unreachable', message: messageOf(err) }),
      )
      .finally(() => (this.checking = undefined));
    return this.checking;
  }

  complete(params: CompleteParams, signal: AbortSignal): Promise<GenerationResult> {
    return this.track(() => this.engine.complete(params, signal));
  }

  chat(
    params: ChatParams,
    onDelta: (delta: string) => void,
    signal: AbortSignal,
  ): Promise<GenerationResult> {
    return this.track(() => this.engine.chat(params, signal, onDelta));
  }

  private async track(run: () => Promise<GenerationResult>): Promise<GenerationResult> {
    try {
      const r = await run();
      if (r.completionTokens > 0 || r.ttftMs > 0) {
        this.update({
          health: 'healthy',
          clientTtftMs: r.ttftMs,
          clientTokensPerSecond: r.tokensPerSecond,
        });
      }
      return r;
    } catch (err) {
      // Unreachable or refusing: find out which with a fresh GET /models (not awaited: the caller
      // gets its error now; the status bar follows).
      if (err instanceof RemoteApiError && err.status === 0)
        this.update({ health: 'unreachable', message: err.message });
      void this.check();
      throw err;
    }
  }

  private update(patch: Partial<RemoteStatus>): RemoteStatus {
    this.current = { ...this.current, ...patch };
    this.onChange(this.current);
    return this.current;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
