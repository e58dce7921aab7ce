// One generation from prompt ids to a GenerationResult: engine tokens -> stream decoder -> stop
// sequences -> text deltas. No I/O of its own: engine and decoding are injected, so it runs in unit
// tests with a fake engine.
import type { FinishReason, GenerationResult, SamplingParams } from '../protocol';
import type { GenerateResult } from './addon-types';
import type { TokenGenerator } from './engine';
import { cancelReasonOf } from './scheduler';
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
  /** Text as it becomes final (never part of a stop sequence). */
  onDelta?: (delta: string) => void;
  /** Called for each engine token (status throttling). */
  onToken?: () => void;
}

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
  let result: GenerateResult;
  try {
    result = await input.engine.generate(
      {
        prompt: input.prompt,
        maxNewTokens: Math.max(0, Math.min(Math.floor(input.sampling.maxTokens), MAX_TOKENS_LIMIT)),
        temperature: input.sampling.temperature,
        topK: input.sampling.topK,
        topP: input.sampling.topP,
        repetitionPenalty: input.sampling.repetitionPenalty,
        seed: input.sampling.seed,
      },
      (token) => {
        input.onToken?.();
        if (matcher.stopped) return; // tokens decoded after a stop, before the engine saw the flag
        const match = matcher.push(decoder.push(token));
        emit(match.text);
        if (match.stopped) controller.abort('stop');
      },
      controller.signal,
    );
  } finally {
    if (timer) clearTimeout(timer);
    input.signal.removeEventListener('abort', forward);
  }
  if (!matcher.stopped) {
    const last = matcher.push(decoder.flush());
    emit(last.text);
    if (!last.stopped) emit(matcher.flush());
  }
  const decodeTokens = Math.max(0, result.tokens.length - 1);
  return {
    text,
    finishReason: finishReason(result, matcher.stopped, cancelReasonOf(controller.signal)),
    promptTokens: result.promptTokens,
    completionTokens: result.tokens.length,
    ttftMs: result.prefillMs,
    tokensPerSecond: result.decodeMs > 0 ? (decodeTokens * 1000) / result.decodeMs : 0,
  };
}

function finishReason(
  result: GenerateResult,
  stoppedByText: boolean,
  cancel: string | undefined,
): FinishReason {
  if (stoppedByText || result.stopReason === 'stop_token') return 'stop';
  if (result.stopReason === 'cancelled')
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
  };
}
