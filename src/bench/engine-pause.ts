// A CUDA benchmark loads its own copy of the model on the GPU, where the sidecar's engine already
// holds one: the engine is stopped for the run and restarted afterwards, whatever the outcome
// (done, failed, cancelled). Pure (no `vscode`): the supervisor comes in through a narrow interface,
// and test/unit/bench-engine-pause.test.ts drives it with a fake.

export interface PausableEngine {
  readonly state: { kind: string };
  /** Stops the engine; no automatic restarts until restart(). */
  stop(): Promise<void>;
  restart(): Promise<void>;
}

export interface PauseHooks {
  onStopping?(): void;
  onRestarted?(): void;
  onRestartFailed?(error: unknown): void;
}

/** Whether a benchmark on `device` must make room: a CUDA run while the engine holds (or loads) a model. */
export function mustStopEngine(device: 'cpu' | 'cuda' | undefined, stateKind: string): boolean {
  return device === 'cuda' && ['starting', 'running', 'restarting'].includes(stateKind);
}

/**
 * Runs `run` with the engine stopped when `stop` is set, then starts the restart without waiting
 * for it (the model load can take a while; the hooks tell the user how it went).
 */
export async function withEngineStopped<T>(
  engine: PausableEngine,
  stop: boolean,
  run: () => Promise<T>,
  hooks: PauseHooks = {},
): Promise<T> {
  if (!stop) return run();
  hooks.onStopping?.();
  try {
    await engine.stop();
    return await run();
  } finally {
    // Also after a failed stop: stop() leaves the supervisor "stopped" whatever the process did.
    engine.restart().then(
      () => hooks.onRestarted?.(),
      (e: unknown) => hooks.onRestartFailed?.(e),
    );
  }
}
