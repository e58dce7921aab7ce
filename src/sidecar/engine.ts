// The sidecar's handle on one loaded model: the addon's NativeEngine with cancellation by
// AbortSignal and a guarded unload. Nothing here knows about text.
import type {
  AddonModule,
  EngineCounters,
  GenerateOptions,
  GenerateResult,
  LoadOptions,
  ModelInfo,
  NativeEngine,
} from './addon-types';

/** The part of Engine that generation needs (a fake implements it in unit tests). */
export interface TokenGenerator {
  generate(
    options: GenerateOptions,
    onToken: (token: number) => void,
    signal: AbortSignal,
  ): Promise<GenerateResult>;
}

export class Engine implements TokenGenerator {
  private constructor(
    private readonly native: NativeEngine,
    readonly info: ModelInfo,
  ) {}

  static async load(addon: AddonModule, options: LoadOptions): Promise<Engine> {
    const native = await addon.load(options);
    return new Engine(native, native.info());
  }

  /** Runs one generation; aborting `signal` stops it within one token (stopReason 'cancelled'). */
  async generate(
    options: GenerateOptions,
    onToken: (token: number) => void,
    signal: AbortSignal,
  ): Promise<GenerateResult> {
    const running = this.native.generate(options, onToken);
    // After generate(): the addon clears the cancel flag when a run starts, so cancelling first
    // would be lost. A signal that is already aborted cancels at the engine's first poll.
    const cancel = () => this.native.cancel();
    if (signal.aborted) cancel();
    else signal.addEventListener('abort', cancel, { once: true });
    try {
      return await running;
    } finally {
      signal.removeEventListener('abort', cancel);
    }
  }

  counters(): EngineCounters {
    return this.native.counters();
  }

  unload(): void {
    this.native.unload();
  }
}
