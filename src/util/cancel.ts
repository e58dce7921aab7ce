// Cancellation as the pure modules see it: the structural subset of vscode.CancellationToken and
// vscode-jsonrpc's CancellationToken, so either can be passed without an adapter.
export interface Disposable {
  dispose(): void;
}

export interface CancelSignal {
  readonly isCancellationRequested: boolean;
  onCancellationRequested(listener: (e: unknown) => void): Disposable;
}

/** Resolves true after `ms`, or false as soon as `signal` is cancelled (never rejects). */
export function sleep(ms: number, signal?: CancelSignal): Promise<boolean> {
  if (signal?.isCancellationRequested) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    // eslint-disable-next-line prefer-const
    let sub: Disposable | undefined;
    const timer = setTimeout(() => {
      sub?.dispose();
      resolve(true);
    }, ms);
    sub = signal?.onCancellationRequested(() => {
      clearTimeout(timer);
      sub?.dispose();
      resolve(false);
    });
  });
}

/** A source whose signal is cancelled by `cancel()` or by any of the linked parent signals. */
export class LinkedCancelSource {
  private cancelled = false;
  private readonly listeners = new Set<(e: unknown) => void>();
  private readonly links: Disposable[] = [];
  readonly signal: CancelSignal;

  constructor(...parents: (CancelSignal | undefined)[]) {
    const isCancelled = (): boolean => this.cancelled;
    this.signal = {
      get isCancellationRequested(): boolean {
        return isCancelled();
      },
      onCancellationRequested: (listener: (e: unknown) => void): Disposable => {
        if (this.cancelled) {
          listener(undefined);
          return { dispose: () => undefined };
        }
        this.listeners.add(listener);
        return { dispose: () => void this.listeners.delete(listener) };
      },
    };
    for (const p of parents) {
      if (!p) continue;
      if (p.isCancellationRequested) this.cancelled = true;
      else this.links.push(p.onCancellationRequested(() => this.cancel()));
    }
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    const ls = [...this.listeners];
    this.listeners.clear();
    for (const l of ls) l(undefined);
    this.dispose();
  }

  /** Unlinks from the parents (call when the work is done, so long-lived parents hold no closures). */
  dispose(): void {
    for (const d of this.links.splice(0)) d.dispose();
  }
}
