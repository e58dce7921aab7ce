// The messages between the chat webview and the extension, both ways. This one file is imported by
// the extension (src/chat/view.ts) and by the webview bundle (webview/chat/main.ts), so both sides
// compile against the same union; every message carries a `type`.

export type Role = 'user' | 'assistant';

export interface ChatTurn {
  role: Role;
  text: string;
  /** Short label of the context sent with a user turn ("app.ts:3-10"), for display only. */
  contextLabel?: string;
  /** Assistant turns: how generation ended and the engine's own figures. */
  finishReason?: string;
  tokensPerSecond?: number;
}

/** What the extension offers as context for the next message: the selection, else the active file. */
export interface ContextOffer {
  label: string;
  kind: 'selection' | 'file';
}

export type EngineAvailability = 'ready' | 'starting' | 'unavailable';

export type ToWebview =
  | {
      type: 'init';
      turns: ChatTurn[];
      offer: ContextOffer | null;
      engine: EngineAvailability;
      engineMessage: string;
    }
  | { type: 'offer'; offer: ContextOffer | null }
  | { type: 'engine'; engine: EngineAvailability; engineMessage: string }
  | { type: 'userTurn'; turn: ChatTurn }
  | { type: 'assistantStart' }
  | { type: 'assistantDelta'; delta: string }
  | { type: 'assistantEnd'; turn: ChatTurn }
  | { type: 'error'; message: string }
  | { type: 'cleared' };

export type FromWebview =
  | { type: 'ready' }
  | { type: 'send'; text: string; includeContext: boolean }
  | { type: 'stop' }
  | { type: 'newChat' }
  | { type: 'copyCode'; code: string }
  | { type: 'insertCode'; code: string }
  | { type: 'newFileWithCode'; code: string; language: string }
  | { type: 'restartEngine' }
  | { type: 'showLogs' };

const isString = (v: unknown): v is string => typeof v === 'string';

/**
 * Validates a message from the webview. The webview is ours, but it renders model output, so the
 * extension treats what it posts as untrusted input: unknown shapes are dropped.
 */
export function parseFromWebview(raw: unknown): FromWebview | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const m = raw as Record<string, unknown>;
  switch (m.type) {
    case 'ready':
    case 'stop':
    case 'newChat':
    case 'restartEngine':
    case 'showLogs':
      return { type: m.type };
    case 'send':
      return isString(m.text) && typeof m.includeContext === 'boolean'
        ? { type: 'send', text: m.text, includeContext: m.includeContext }
        : undefined;
    case 'copyCode':
    case 'insertCode':
      return isString(m.code) ? { type: m.type, code: m.code } : undefined;
    case 'newFileWithCode':
      return isString(m.code) && isString(m.language)
        ? { type: 'newFileWithCode', code: m.code, language: m.language }
        : undefined;
    default:
      return undefined;
  }
}
