// The one place completions and chat go through: the local sidecar (Supervisor) when
// localmoe.remote.url is empty, else a RemoteBackend to an OpenAI-compatible server. The editor's
// provider and chat view call only this; tests drive the same class against real servers.
// Pure (no `vscode`): settings and the API key come in through functions.
import {
  chatRequest,
  completeRequest,
  type ChatParams,
  type CompleteParams,
  type GenerationResult,
} from '../protocol';
import type { Supervisor } from '../client/supervisor';
import type { CancelSignal } from '../util/cancel';
import { RemoteBackend, normalizeRemoteUrl, type RemoteStatus } from './remote-backend';

export interface FacadeDeps {
  supervisor: Supervisor;
  /** Live localmoe.remote.* settings. */
  remoteSettings: () => { url: string; model: string };
  /** The stored API key (SecretStorage in the editor). */
  apiKey: () => Promise<string | undefined>;
  /** Remote status changes (health, client-measured speed); undefined when back to local. */
  onRemoteStatus?: (status: RemoteStatus | undefined) => void;
  fetch?: typeof fetch;
}

/** While unreachable, completions ask again at most this often (each ask is one GET /models). */
const RECHECK_MS = 10_000;

export class GenerationFacade {
  private remote: RemoteBackend | undefined;
  private remoteError: string | undefined;
  private lastRecheck = 0;
  private refreshing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: FacadeDeps) {}

  get mode(): 'local' | 'remote' {
    return this.deps.remoteSettings().url.trim() ? 'remote' : 'local';
  }

  get remoteStatus(): RemoteStatus | undefined {
    return this.remote?.status;
  }

  /** Rebuilds the remote side from the settings and key (after a change), then checks health. */
  refresh(): Promise<void> {
    this.refreshing = this.refreshing.then(async () => {
      const settings = this.deps.remoteSettings();
      this.remote = undefined;
      this.remoteError = undefined;
      if (!settings.url.trim()) {
        this.deps.onRemoteStatus?.(undefined);
        return;
      }
      const url = normalizeRemoteUrl(settings.url);
      if ('error' in url) {
        this.remoteError = url.error;
        this.deps.onRemoteStatus?.(undefined);
        return;
      }
      const apiKey = await this.deps.apiKey();
      this.remote = new RemoteBackend(
        url.baseUrl,
        url.host,
        { ...settings, apiKey },
        (s) => this.deps.onRemoteStatus?.(s),
        this.deps.fetch,
      );
      this.deps.onRemoteStatus?.(this.remote.status);
      await this.remote.check();
    });
    return this.refreshing;
  }

  /** Whether a completion may be asked now; wakes the local engine lazily (never in remote mode). */
  isReady(): boolean {
    if (this.mode === 'local') {
      const sup = this.deps.supervisor;
      if (sup.state.kind === 'idle') sup.start().catch(() => undefined);
      return sup.isRunning;
    }
    const remote = this.remote;
    if (!remote) return false;
    if (remote.status.health !== 'unreachable') return true;
    if (Date.now() - this.lastRecheck > RECHECK_MS) {
      this.lastRecheck = Date.now();
      void remote.check();
    }
    return false;
  }

  async complete(params: CompleteParams, signal: CancelSignal): Promise<GenerationResult> {
    if (this.mode === 'local') return this.deps.supervisor.request(completeRequest, params, signal);
    return (await this.remoteBackend()).complete(params, toAbortSignal(signal));
  }

  async chat(
    params: ChatParams,
    onDelta: (delta: string) => void,
    signal: CancelSignal,
  ): Promise<GenerationResult> {
    if (this.mode === 'local') {
      const sup = this.deps.supervisor;
      const sub = sup.onStream(params.streamId, (chunk) => onDelta(chunk.delta));
      try {
        return await sup.request(chatRequest, params, signal);
      } finally {
        sub.dispose();
      }
    }
    return (await this.remoteBackend()).chat(params, onDelta, toAbortSignal(signal));
  }

  private async remoteBackend(): Promise<RemoteBackend> {
    await this.refreshing;
    // Settings may have changed without a refresh yet (e.g. first use): build it now.
    if (!this.remote && !this.remoteError) await this.refresh();
    if (this.remote) return this.remote;
    throw new Error(this.remoteError ?? 'remote engine not configured: set localmoe.remote.url');
  }
}

/** The editor's cancellation token as the AbortSignal fetch wants. */
export function toAbortSignal(signal: CancelSignal): AbortSignal {
  const controller = new AbortController();
  if (signal.isCancellationRequested) controller.abort();
  else signal.onCancellationRequested(() => controller.abort());
  return controller.signal;
}
