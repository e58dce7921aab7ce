// The inline-completion pipeline without VS Code: cache first, then debounce, then one engine
// request at a time (a newer keystroke cancels the older request), then post-processing.
// The cancellation signal is checked before every costly step, and every exit is logged with a
// named reason so that "why no ghost text?" is answered by the log.
import type { CompleteParams, GenerationResult } from '../protocol';
import type { LocalMoeConfig } from '../config/schema';
import { completionEnabledFor } from '../config/schema';
import type { Logger } from '../util/logger';
import { LinkedCancelSource, sleep, type CancelSignal } from '../util/cancel';
import { SuggestionCache } from './cache';
import type { CompletionContext } from './context';
import { allowMultiline, postprocess } from './postprocess';
import { TimingWindow, formatTiming, timingOf, type Clock } from './timing';

export interface CompletionBackend {
  /** False while the engine is starting, failed or stopped: completions then return at once. */
  isReady(): boolean;
  complete(params: CompleteParams, signal: CancelSignal): Promise<GenerationResult>;
}

export interface CompletionRequest {
  context: CompletionContext;
  languageId: string;
  fileName?: string;
}

export type ExitReason =
  | 'disabled-language'
  | 'cache-hit'
  | 'typed-through'
  | 'cancelled-before-debounce'
  | 'cancelled-during-debounce'
  | 'cancelled-before-request'
  | 'cancelled-in-flight'
  | 'cancelled-after-response'
  | 'engine-not-ready'
  | 'engine-error'
  | 'engine-empty'
  | 'empty'
  | 'repeats-suffix'
  | 'only-closing-brackets'
  | 'suggestion';

export interface CompletionOutcome {
  text: string | undefined;
  reason: ExitReason;
  /** On an engine suggestion only: what `delivered()` needs to time the round trip. */
  engine?: EngineAnswer;
}

/** When the request really started (after the debounce) and what the engine reported. */
export interface EngineAnswer {
  startMs: number;
  result: GenerationResult;
}

let nextStreamId = 1;
/** A code line rarely needs more tokens; the setting can only lower it. */
const SINGLE_LINE_MAX_TOKENS = 48;

export class InlineCompleter {
  readonly cache = new SuggestionCache(64);
  private inFlight: LinkedCancelSource | undefined;
  /** Counters for the status tooltip and for tuning (acceptance rate). */
  readonly stats = { requests: 0, engineCalls: 0, cacheHits: 0, shown: 0, accepted: 0 };
  /** Round trip vs engine time of the last delivered engine suggestions (issue #10). */
  readonly timings = new TimingWindow(50);

  constructor(
    private readonly backend: CompletionBackend,
    private readonly config: () => LocalMoeConfig['completion'],
    private readonly log: Logger,
    private readonly now: Clock = () => performance.now(),
  ) {}

  async complete(req: CompletionRequest, signal: CancelSignal): Promise<CompletionOutcome> {
    this.stats.requests++;
    const outcome = await this.run(req, signal);
    if (outcome.text !== undefined) this.stats.shown++;
    this.log.trace(
      `completion exit: ${outcome.reason}${outcome.text !== undefined ? ` (${outcome.text.length} chars)` : ''}`,
    );
    return outcome;
  }

  /**
   * Called by the provider right before it returns an item, so that the round trip ends where the
   * editor takes over (rendering the ghost text is the editor's and not measured). Cache hits and
   * cancelled requests carry no `engine` and are not timed.
   */
  delivered(outcome: CompletionOutcome): void {
    if (!outcome.engine) return;
    const t = timingOf(outcome.engine.startMs, this.now(), outcome.engine.result);
    if (!t) return; // remote mode: no engine counters to split the round trip with
    this.timings.add(t);
    this.log.debug(formatTiming(t));
  }

  /** Called when the user accepts a suggestion (the item's command). */
  accepted(): void {
    this.stats.accepted++;
  }

  private async run(req: CompletionRequest, signal: CancelSignal): Promise<CompletionOutcome> {
    const cfg = this.config();
    const { context } = req;
    if (!completionEnabledFor(cfg, req.languageId)) return none('disabled-language');

    const hit = this.cache.get(context.prefix, context.suffix);
    if (hit) {
      this.stats.cacheHits++;
      return { text: hit.text, reason: hit.kind === 'exact' ? 'cache-hit' : 'typed-through' };
    }
    if (signal.isCancellationRequested) return none('cancelled-before-debounce');
    if (!(await sleep(cfg.debounceMs, signal))) return none('cancelled-during-debounce');
    const startMs = this.now(); // the request really starts here: the debounce is a choice, not cost
    if (!this.backend.isReady()) return none('engine-not-ready');

    // One request in flight: a newer keystroke supersedes the older request.
    this.inFlight?.cancel();
    const source = new LinkedCancelSource(signal);
    this.inFlight = source;
    try {
      if (source.signal.isCancellationRequested) return none('cancelled-before-request');
      const multiline = allowMultiline(cfg.multiline, context.linePrefix, context.lineSuffix);
      const params: CompleteParams = {
        prefix: context.prefix,
        suffix: context.suffix,
        languageId: req.languageId,
        fileName: req.fileName,
        streamId: `c${nextStreamId++}`,
        maxTokens: multiline ? cfg.maxTokens : Math.min(cfg.maxTokens, SINGLE_LINE_MAX_TOKENS),
        temperature: 0,
        timeBudgetMs: cfg.timeBudgetMs,
        // Stop in the engine rather than decode tokens post-processing would drop: single-line
        // at the first newline; multi-line at two blank lines (the model has left the block).
        stop: multiline ? ['\n\n\n'] : ['\n'],
      };
      this.stats.engineCalls++;
      let result: GenerationResult;
      try {
        result = await this.backend.complete(params, source.signal);
      } catch (e) {
        if (source.signal.isCancellationRequested) return none('cancelled-in-flight');
        this.log.warn(`completion request failed: ${e instanceof Error ? e.message : String(e)}`);
        return none('engine-error');
      }
      if (result.finishReason === 'cancelled') return none('cancelled-in-flight');
      if (result.finishReason === 'error') return none('engine-error');
      if (result.text === '') return none('engine-empty');

      const processed = postprocess({
        raw: result.text,
        prefix: context.prefix,
        suffix: context.suffix,
        linePrefix: context.linePrefix,
        lineSuffix: context.lineSuffix,
        multiline,
      });
      if (!processed.ok) return none(processed.reason);
      // Cache even if the editor moved on: the user may come back to this spot or type into it.
      this.cache.set(context.prefix, context.suffix, processed.text);
      if (signal.isCancellationRequested) return none('cancelled-after-response');
      return { text: processed.text, reason: 'suggestion', engine: { startMs, result } };
    } finally {
      source.dispose();
      if (this.inFlight === source) this.inFlight = undefined;
    }
  }
}

function none(reason: ExitReason): CompletionOutcome {
  return { text: undefined, reason };
}
