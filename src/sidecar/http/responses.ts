// OpenAI response objects built from the sidecar's GenerationResult. Pure.
import type { FinishReason, GenerationResult } from '../../protocol';
import type {
  ApiFinishReason,
  ApiUsage,
  ChatCompletion,
  ChatCompletionChunk,
  TextCompletion,
} from './openai-types';

/** Fields every object of one response shares (OpenAI repeats them in each chunk). */
export interface ResponseMeta {
  id: string;
  created: number;
  model: string;
}

/** Usage straight from the engine's counts (prompt tokens as prefilled, tokens generated). */
export function usageOf(result: GenerationResult): ApiUsage {
  return {
    prompt_tokens: result.promptTokens,
    completion_tokens: result.completionTokens,
    total_tokens: result.promptTokens + result.completionTokens,
  };
}

/**
 * OpenAI knows 'stop' and 'length'. A time budget is a length limit in all but unit. 'cancelled' and
 * 'error' never reach here: they are answered as errors (see generate-route.ts).
 */
export function apiFinishReason(reason: FinishReason): ApiFinishReason {
  return reason === 'stop' ? 'stop' : 'length';
}

export function chatCompletion(meta: ResponseMeta, result: GenerationResult): ChatCompletion {
  return {
    ...meta,
    object: 'chat.completion',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: result.text },
        finish_reason: apiFinishReason(result.finishReason),
        logprobs: null,
      },
    ],
    usage: usageOf(result),
  };
}

export function chatChunk(
  meta: ResponseMeta,
  delta: ChatCompletionChunk['choices'][number]['delta'],
  finish: ApiFinishReason | null = null,
): ChatCompletionChunk {
  return {
    ...meta,
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
  };
}

export function chatUsageChunk(meta: ResponseMeta, result: GenerationResult): ChatCompletionChunk {
  return { ...meta, object: 'chat.completion.chunk', choices: [], usage: usageOf(result) };
}

export function textCompletion(meta: ResponseMeta, result: GenerationResult): TextCompletion {
  return {
    ...meta,
    object: 'text_completion',
    choices: [
      {
        index: 0,
        text: result.text,
        finish_reason: apiFinishReason(result.finishReason),
        logprobs: null,
      },
    ],
    usage: usageOf(result),
  };
}

export function textChunk(
  meta: ResponseMeta,
  text: string,
  finish: ApiFinishReason | null = null,
): TextCompletion {
  return {
    ...meta,
    object: 'text_completion',
    choices: [{ index: 0, text, finish_reason: finish, logprobs: null }],
  };
}

export function textUsageChunk(meta: ResponseMeta, result: GenerationResult): TextCompletion {
  return { ...meta, object: 'text_completion', choices: [], usage: usageOf(result) };
}
