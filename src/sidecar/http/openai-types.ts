// The OpenAI wire format we speak (the subset of /v1/models, /v1/chat/completions and
// /v1/completions that a local single-choice engine can honour), plus the normalised requests the
// parser produces. Response shapes follow OpenAI's so its client libraries parse them unchanged.
import type { ChatMessage } from '../../protocol';

/** Sampling settings after validation and defaults (OpenAI's defaults, not the editor's). */
export interface ApiSampling {
  maxTokens: number;
  temperature: number;
  topP: number;
  seed?: number;
  stop: string[];
}

interface ApiRequestBase {
  /** The name the client asked for; any name is served by the one loaded model. */
  model: string | undefined;
  sampling: ApiSampling;
  stream: boolean;
  /** stream_options.include_usage: a last chunk with `usage` and no choices. */
  includeUsage: boolean;
}

export interface ApiChatRequest extends ApiRequestBase {
  kind: 'chat';
  messages: ChatMessage[];
}

export interface ApiCompletionRequest extends ApiRequestBase {
  kind: 'completion';
  /** Text to continue, or token ids. */
  prompt: string | number[];
}

export type ApiRequest = ApiChatRequest | ApiCompletionRequest;

export type ApiFinishReason = 'stop' | 'length';

export interface ApiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface ModelObject {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
}

export interface ModelList {
  object: 'list';
  data: ModelObject[];
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: {
    index: number;
    message: { role: 'assistant'; content: string };
    finish_reason: ApiFinishReason;
    logprobs: null;
  }[];
  usage: ApiUsage;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: {
    index: number;
    delta: { role?: 'assistant'; content?: string };
    finish_reason: ApiFinishReason | null;
    logprobs: null;
  }[];
  usage?: ApiUsage | null;
}

export interface TextCompletion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  choices: {
    index: number;
    text: string;
    finish_reason: ApiFinishReason | null;
    logprobs: null;
  }[];
  usage?: ApiUsage | null;
}
