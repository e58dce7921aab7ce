// Fits a chat into the context window. Pure: rendering and counting are injected.
import type { ChatMessage } from '../protocol';

/**
 * Drops the oldest turns (never system messages, never the last message) until the rendered
 * prompt fits `budget` tokens. Returns the prompt ids, or throws when even the last message alone
 * does not fit (the user must shorten it; silently cutting a question would answer another one).
 */
export function fitChat(
  messages: readonly ChatMessage[],
  encodeChat: (messages: readonly ChatMessage[]) => number[],
  budget: number,
): number[] {
  let kept = [...messages];
  for (;;) {
    const ids = encodeChat(kept);
    if (ids.length <= budget) return ids;
    const oldest = kept.findIndex((m, i) => m.role !== 'system' && i < kept.length - 1);
    if (oldest < 0) {
      throw new Error(
        `the chat prompt is ${ids.length} tokens but only ${budget} fit next to the reply: shorten the message or raise the context size`,
      );
    }
    // Drop a whole user/assistant pair when possible so roles keep alternating.
    const pair =
      kept[oldest].role === 'user' &&
      kept[oldest + 1]?.role === 'assistant' &&
      oldest + 1 < kept.length - 1;
    kept = kept.filter((_, i) => i !== oldest && !(pair && i === oldest + 1));
  }
}
