// One chat conversation without VS Code: the turns, how they become protocol messages (context
// attached to the user turn, history trimmed to a budget), one generation at a time with Stop,
// and persistence through a small key-value store (VS Code's workspaceState fits it).
import type { ChatMessage, ChatParams, GenerationResult } from '../protocol';
import type { CancelSignal } from '../util/cancel';
import { LinkedCancelSource } from '../util/cancel';
import type { ChatTurn } from './messages';

export interface ChatBackend {
  /** Streams text through `onDelta`; resolves with the totals. */
  chat(
    params: ChatParams,
    onDelta: (delta: string) => void,
    signal: CancelSignal,
  ): Promise<GenerationResult>;
}

export interface KeyValueStore {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): Thenable<void> | Promise<void>;
}

export interface AttachedContext {
  label: string;
  /** Language id of the code, for the fence. */
  languageId: string;
  text: string;
}

export const HISTORY_KEY = 'localmoe.chat.history';
const SYSTEM_PROMPT =
  "You are LocalMoE, a coding assistant running locally in the user's editor. Answer concisely; use fenced code blocks with a language tag for code.";

/** Most characters of earlier turns sent with a request; older turns are dropped first. */
const HISTORY_CHAR_BUDGET = 12_000;
const MAX_STORED_TURNS = 200;

let nextStreamId = 1;

export class ChatSession {
  private turnsValue: ChatTurn[];
  private running: LinkedCancelSource | undefined;

  constructor(
    private readonly store: KeyValueStore,
    private readonly backend: ChatBackend,
    private readonly settings: () => { maxTokens: number; temperature: number },
  ) {
    const saved = store.get<ChatTurn[]>(HISTORY_KEY);
    this.turnsValue = Array.isArray(saved) ? saved.filter(isTurn) : [];
  }

  get turns(): readonly ChatTurn[] {
    return this.turnsValue;
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  /** Builds the protocol messages for the conversation plus a new user turn. */
  static buildMessages(
    history: readonly ChatTurn[],
    userText: string,
    context?: AttachedContext,
  ): ChatMessage[] {
    let content = userText;
    if (context) {
      // Fence with more backticks than the code contains, so code cannot close the fence early.
      const ticks = '`'.repeat(Math.max(3, longestBacktickRun(context.text) + 1));
      content = `${userText}\n\nContext (${context.label}):\n${ticks}${context.languageId}\n${context.text}\n${ticks}`;
    }
    const earlier: ChatMessage[] = [];
    let used = content.length;
    for (let i = history.length - 1; i >= 0; i--) {
      const t = history[i];
      if (used + t.text.length > HISTORY_CHAR_BUDGET) break;
      used += t.text.length;
      earlier.unshift({ role: t.role, content: t.text });
    }
    // Chat templates (Mixtral's among them) require user/assistant alternation starting with user.
    while (earlier.length && earlier[0].role !== 'user') earlier.shift();
    return [{ role: 'system', content: SYSTEM_PROMPT }, ...earlier, { role: 'user', content }];
  }

  /**
   * Sends one user message and streams the answer. Throws if a generation is already running.
   * On cancel (Stop) the partial answer is kept with finishReason 'cancelled'.
   */
  async send(
    text: string,
    context: AttachedContext | undefined,
    onDelta: (delta: string) => void,
    signal?: CancelSignal,
  ): Promise<{ user: ChatTurn; assistant: ChatTurn }> {
    if (this.running) throw new Error('a chat answer is still being generated: stop it first');
    const messages = ChatSession.buildMessages(this.turnsValue, text, context);
    const user: ChatTurn = { role: 'user', text, contextLabel: context?.label };
    // Only complete user/assistant pairs go into history: a failed request leaves no dangling turn.
    const source = new LinkedCancelSource(signal);
    this.running = source;
    let partial = '';
    try {
      const s = this.settings();
      const result = await this.backend.chat(
        {
          messages,
          streamId: `chat${nextStreamId++}`,
          maxTokens: s.maxTokens,
          temperature: s.temperature,
        },
        (delta) => {
          partial += delta;
          onDelta(delta);
        },
        source.signal,
      );
      const assistant: ChatTurn = {
        role: 'assistant',
        text: result.text || partial,
        finishReason: result.finishReason,
        tokensPerSecond: result.tokensPerSecond,
      };
      await this.append(user, assistant);
      return { user, assistant };
    } catch (e) {
      if (source.signal.isCancellationRequested) {
        const assistant: ChatTurn = { role: 'assistant', text: partial, finishReason: 'cancelled' };
        await this.append(user, assistant);
        return { user, assistant };
      }
      throw e;
    } finally {
      source.dispose();
      this.running = undefined;
    }
  }

  stop(): void {
    this.running?.cancel();
  }

  async clear(): Promise<void> {
    this.stop();
    this.turnsValue = [];
    await this.store.update(HISTORY_KEY, []);
  }

  private async append(user: ChatTurn, assistant: ChatTurn): Promise<void> {
    this.turnsValue = [...this.turnsValue, user, assistant].slice(-MAX_STORED_TURNS);
    await this.store.update(HISTORY_KEY, this.turnsValue);
  }
}

function longestBacktickRun(text: string): number {
  let best = 0;
  for (const m of text.matchAll(/`+/g)) best = Math.max(best, m[0].length);
  return best;
}

function isTurn(v: unknown): v is ChatTurn {
  if (!v || typeof v !== 'object') return false;
  const t = v as Record<string, unknown>;
  return (t.role === 'user' || t.role === 'assistant') && typeof t.text === 'string';
}
