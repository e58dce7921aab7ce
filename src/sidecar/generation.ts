// One generation from prompt ids to a GenerationResult: engine tokens -> stream decoder -> stop
// sequences -> text deltas. No I/O of its own: engine and decoding are injected, so it runs in unit
// tests with a fake engine.
import type { FinishReason, GenerationResult, SamplingParams } from '../protocol';
import type { GenerateResult, StopReason } from './addon-types';
import type { TokenGenerator } from './engine';
import { cancelReasonOf, type JobTurn } from './scheduler';
import { StopMatcher } from './stop-matcher';
import { StreamDecoder, type DecodeFn } from './stream-decoder';

export interface GenerationInput {
  engine: TokenGenerator;
  decode: DecodeFn;
  prompt: number[];
  /** Last prompt ids, so that a continuation's first token keeps its leading space (see StreamDecoder). */
  decodeContext: number[];
  sampling: SamplingParams;
  /** Client stop sequences plus any the request type adds. */
  stops: string[];
  /** The scheduler's signal: client cancel, superseded, shutdown. */
  signal: AbortSignal;
  /** The engine's KV slot for this request (KV_SLOT: completions and chats keep separate caches). */
  kvSlot?: number;
  /**
   * The scheduler's turn (scheduler.ts): when its `preempt` fires, the engine run stops between
   * tokens, the engine is given up until `pause()` resolves, and generation resumes from prompt +
   * tokens so far with the remaining budget. The stream decoder and stop matcher carry over, so the
   * text continues without a seam; the engine reuses the slot's prefix, so resuming prefills one
   * token. Greedy output is exactly that of an uninterrupted run; a sampled one continues with the
   * engine's sampler reseeded (still deterministic for a given seed and preemption point).
   */
  turn?: JobTurn;
  /** Text as it becomes final (never part of a stop sequence). */
  onDelta?: (delta: string) => void;
  /** Called for each engine token (status throttling). */
  onToken?: () => void;
}

/** KV slots of the engine (LoadOptions.kvSlots defaults to 2): typing reuses slot 0, chat turns slot 1. */
export const KV_SLOT = { complete: 0, chat: 1 } as const;

/** Most tokens a single request may ask for (keeps a typo from occupying the engine for hours). */
export const MAX_TOKENS_LIMIT = 8192;

export async function runGeneration(input: GenerationInput): Promise<GenerationResult> {
  const decoder = new StreamDecoder(input.decode, input.decodeContext);
  const matcher = new StopMatcher(input.stops);
  // Our own controller: it also fires for a stop sequence and the time budget, and records why.
  const controller = new AbortController();
  const forward = () => controller.abort(cancelReasonOf(input.signal) ?? 'client');
  if (input.signal.aborted) forward();
  else input.signal.addEventListener('abort', forward, { once: true });
  const budget = input.sampling.timeBudgetMs;
  const timer =
    budget !== undefined && budget > 0
      ? setTimeout(() => controller.abort('time'), budget)
      : undefined;

  let text = '';
  const emit = (chunk: string) => {
    if (!chunk) return;
    text += chunk;
    input.onDelta?.(chunk);
  };
  const maxNewTokens = Math.max(
    0,
    Math.min(Math.floor(input.sampling.maxTokens), MAX_TOKENS_LIMIT),
  );
  const generated: number[] = [];
  const total: Totals = {
    ttftMs: 0,
    engineMs: 0,
    decodeMs: 0,
    decodeTokens: 0,
    stopReason: 'cancelled',
  };
  try {
    // One engine run per turn: a preemption ends a run, and the next resumes where it stopped.
    while (!controller.signal.aborted) {
      if (input.turn?.preempt.aborted) {
        await input.turn.pause();
        continue; // re-checks the cancel signal (a pause ends early when the job is cancelled)
      }
      const firstRun = generated.length === 0;
      const result = await runSegment(
        input,
        controller.signal,
        generated,
        maxNewTokens,
        (token) => {
          generated.push(token);
          input.onToken?.();
          if (matcher.stopped) return; // tokens decoded after a stop, before the engine saw the flag
          const match = matcher.push(decoder.push(token));
          emit(match.text);
          if (match.stopped) controller.abort('stop');
        },
      );
      if (firstRun) total.ttftMs += result.prefillMs;
      total.engineMs += result.prefillMs + result.decodeMs;
      total.decodeMs += result.decodeMs;
      total.decodeTokens += Math.max(0, result.tokens.length - 1);
      total.stopReason = result.stopReason;
      const preempted =
        result.stopReason === 'cancelled' &&
        !controller.signal.aborted &&
        input.turn?.preempt.aborted === true &&
        generated.length < maxNewTokens;
      if (!preempted) break;
    }
  } finally {
    if (timer) clearTimeout(timer);
    input.signal.removeEventListener('abort', forward);
  }
  if (!matcher.stopped) {
    const last = matcher.push(decoder.flush());
    emit(last.text);
    if (!last.stopped) emit(matcher.flush());
  }
  return {
    text,
    finishReason: finishReason(
      total.stopReason,
      matcher.stopped,
      cancelReasonOf(controller.signal),
    ),
    promptTokens: input.prompt.length,
    completionTokens: generated.length,
    ttftMs: total.ttftMs,
    tokensPerSecond: total.decodeMs > 0 ? (total.decodeTokens * 1000) / total.decodeMs : 0,
    engineMs: total.engineMs,
  };
}

interface Totals {
  /** Prefill time of the runs up to the first token (a preemption may come before it). */
  ttftMs: number;
  /** Prefill + decode of every run, resumed ones included (time spent paused is not). */
  engineMs: number;
  decodeMs: number;
  decodeTokens: number;
  /** The last engine run's reason; 'cancelled' when none ran (cancelled while paused or queued). */
  stopReason: StopReason;
}

/** One engine run: prompt + tokens generated so far, the remaining budget, until done or preempted. */
async function runSegment(
  input: GenerationInput,
  cancel: AbortSignal,
  generated: readonly number[],
  maxNewTokens: number,
  onToken: (token: number) => void,
): Promise<GenerateResult> {
  const stop = new AbortController();
  const abort = () => stop.abort();
  const preempt = input.turn?.preempt;
  cancel.addEventListener('abort', abort, { once: true });
  preempt?.addEventListener('abort', abort, { once: true });
  try {
    return await input.engine.generate(
      {
        prompt: generated.length ? [...input.prompt, ...generated] : input.prompt,
        maxNewTokens: maxNewTokens - generated.length,
        temperature: input.sampling.temperature,
        topK: input.sampling.topK,
        topP: input.sampling.topP,
        repetitionPenalty: input.sampling.repetitionPenalty,
        seed: input.sampling.seed,
        ...(input.kvSlot !== undefined ? { kvSlot: input.kvSlot } : {}),
      },
      onToken,
      stop.signal,
    );
  } finally {
    cancel.removeEventListener('abort', abort);
    preempt?.removeEventListener('abort', abort);
  }
}

function finishReason(
  stopReason: StopReason,
  stoppedByText: boolean,
  cancel: string | undefined,
): FinishReason {
  if (stoppedByText || stopReason === 'stop_token') return 'stop';
  if (stopReason === 'cancelled')
    return cancel === 'time' ? 'time' : cancel === 'stop' ? 'stop' : 'cancelled';
  return 'length'; // max_tokens, context_full
}

/** The answer to a request the scheduler dropped before it ran. */
export function droppedResult(reason: string): GenerationResult {
  return {
    text: '',
    finishReason: reason === 'time' ? 'time' : 'cancelled',
    promptTokens: 0,
    completionTokens: 0,
    ttftMs: 0,
    tokensPerSecond: 0,
    engineMs: 0,
  };
}
