// Request bodies of /v1/chat/completions and /v1/completions: JSON text -> a normalised ApiRequest,
// or an ApiError (400, naming the field) for anything malformed. Pure; never throws for any input
// (fuzzed in test/http/parse-request.test.ts).
//
// Policy: fields we cannot honour with one local engine and one choice (n > 1, logprobs, tools,
// penalties, echo, suffix, best_of, JSON mode) are refused with a message, not ignored, because a
// client relying on them would otherwise get silently different behaviour. Unknown fields (user,
// metadata, ...) are ignored, as OpenAI does.
import type { ChatMessage } from '../../protocol';
import { MAX_TOKENS_LIMIT } from '../generation';
import { ApiError, invalidParam } from './api-error';
import type { ApiChatRequest, ApiCompletionRequest, ApiSampling } from './openai-types';

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: ApiError };

/** OpenAI's default for /v1/completions. */
export const DEFAULT_COMPLETION_MAX_TOKENS = 16;
/** OpenAI lets chat run to the context's end; we bound it so the prompt keeps room (documented). */
export const DEFAULT_CHAT_MAX_TOKENS = 1024;
/** OpenAI's own limit on stop sequences. */
export const MAX_STOP_SEQUENCES = 4;
const MAX_STOP_LENGTH = 256;

type Body = Record<string, unknown>;

export function parseChatRequest(text: string): Parsed<ApiChatRequest> {
  return guarded(() => {
    const body = parseJsonObject(text);
    const messages = chatMessages(body.messages);
    const maxTokens =
      body.max_completion_tokens !== undefined && body.max_completion_tokens !== null
        ? maxTokensField(body, 'max_completion_tokens', DEFAULT_CHAT_MAX_TOKENS)
        : maxTokensField(body, 'max_tokens', DEFAULT_CHAT_MAX_TOKENS);
    refuseUnsupported(body, 'chat');
    return { kind: 'chat', messages, ...common(body, maxTokens) };
  });
}

export function parseCompletionRequest(text: string): Parsed<ApiCompletionRequest> {
  return guarded(() => {
    const body = parseJsonObject(text);
    const prompt = completionPrompt(body.prompt);
    const maxTokens = maxTokensField(body, 'max_tokens', DEFAULT_COMPLETION_MAX_TOKENS);
    refuseUnsupported(body, 'completion');
    return { kind: 'completion', prompt, ...common(body, maxTokens) };
  });
}

/** Only ApiErrors become answers; anything else is a bug in this file and must surface in tests. */
function guarded<T>(parse: () => T): Parsed<T> {
  try {
    return { ok: true, value: parse() };
  } catch (err) {
    if (err instanceof ApiError) return { ok: false, error: err };
    throw err;
  }
}

export function parseJsonObject(text: string): Body {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ApiError(
      400,
      'invalid_request_error',
      `the request body is not valid JSON (${(err as Error).message}): send a JSON object`,
      null,
      'invalid_json',
    );
  }
  if (!isObject(value)) {
    throw new ApiError(
      400,
      'invalid_request_error',
      `the request body must be a JSON object, got ${describe(value)}`,
      null,
      'invalid_json',
    );
  }
  return value;
}

function common(
  body: Body,
  maxTokens: number,
): Omit<ApiChatRequest, 'kind' | 'messages'> & { sampling: ApiSampling } {
  const model = body.model;
  if (model !== undefined && model !== null && typeof model !== 'string')
    throw invalidParam('model', `must be a string, got ${describe(model)}`, 'invalid_type');
  const stream = optionalBoolean(body, 'stream') ?? false;
  let includeUsage = false;
  const options = body.stream_options;
  if (options !== undefined && options !== null) {
    if (!isObject(options))
      throw invalidParam('stream_options', 'must be an object', 'invalid_type');
    includeUsage = optionalBoolean(options, 'include_usage', 'stream_options.') ?? false;
  }
  const seed = body.seed;
  if (
    seed !== undefined &&
    seed !== null &&
    (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0)
  )
    throw invalidParam('seed', `must be a non-negative integer, got ${describe(seed)}`);
  return {
    model: typeof model === 'string' ? model : undefined,
    stream,
    includeUsage: stream && includeUsage,
    sampling: {
      maxTokens,
      temperature: numberIn(body, 'temperature', 0, 2) ?? 1,
      topP: numberIn(body, 'top_p', 0, 1, true) ?? 1,
      seed: typeof seed === 'number' ? seed : undefined,
      stop: stopField(body.stop),
    },
  };
}

function chatMessages(value: unknown): ChatMessage[] {
  if (!Array.isArray(value))
    throw invalidParam(
      'messages',
      `must be an array of messages, got ${describe(value)}`,
      'invalid_type',
    );
  if (value.length === 0) throw invalidParam('messages', 'must hold at least one message');
  return value.map((m: unknown, i) => {
    const at = `messages.${i}`;
    if (!isObject(m))
      throw invalidParam(at, `must be an object, got ${describe(m)}`, 'invalid_type');
    const role = m.role;
    // 'developer' is OpenAI's newer name for the system role.
    const mapped =
      role === 'developer'
        ? 'system'
        : role === 'system' || role === 'user' || role === 'assistant'
          ? role
          : undefined;
    if (!mapped) {
      throw invalidParam(
        `${at}.role`,
        `must be 'system', 'developer', 'user' or 'assistant', got ${describe(role)}` +
          (role === 'tool' || role === 'function' ? ' (tool calls are not supported)' : ''),
      );
    }
    return { role: mapped, content: messageContent(m.content, `${at}.content`, mapped) };
  });
}

/** A string, or OpenAI's content parts when they are all text (joined, as the model sees text only). */
function messageContent(value: unknown, param: string, role: ChatMessage['role']): string {
  if (typeof value === 'string') return value;
  if (value === null && role === 'assistant') return '';
  if (Array.isArray(value)) {
    return value
      .map((part: unknown, i) => {
        if (!isObject(part) || part.type !== 'text' || typeof part.text !== 'string') {
          throw invalidParam(
            `${param}.${i}`,
            "only text parts ({type: 'text', text: string}) are supported",
            'invalid_type',
          );
        }
        return part.text;
      })
      .join('');
  }
  throw invalidParam(
    param,
    `must be a string or an array of text parts, got ${describe(value)}`,
    'invalid_type',
  );
}

function completionPrompt(value: unknown): string | number[] {
  // A one-element batch is the same as a single prompt (some clients always send a list).
  const single =
    Array.isArray(value) &&
    value.length === 1 &&
    (typeof value[0] === 'string' || Array.isArray(value[0]))
      ? (value[0] as unknown)
      : value;
  if (typeof single === 'string') return single;
  if (Array.isArray(single) && single.length > 0 && single.every(isTokenId))
    return single as number[];
  if (
    Array.isArray(single) &&
    single.length > 1 &&
    single.every((p) => typeof p === 'string' || Array.isArray(p))
  )
    throw invalidParam('prompt', 'only one prompt per request is supported');
  throw invalidParam(
    'prompt',
    `must be a string or a non-empty array of token ids, got ${describe(value)}`,
    'invalid_type',
  );
}

function isTokenId(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 31;
}

function maxTokensField(body: Body, key: string, fallback: number): number {
  const v = body[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw invalidParam(key, `must be an integer, got ${describe(v)}`, 'invalid_type');
  if (v < 1 || v > MAX_TOKENS_LIMIT)
    throw invalidParam(key, `must be from 1 to ${MAX_TOKENS_LIMIT}, got ${v}`);
  return v;
}

function numberIn(
  body: Body,
  key: string,
  min: number,
  max: number,
  minExclusive = false,
): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number')
    throw invalidParam(key, `must be a number, got ${describe(v)}`, 'invalid_type');
  if (v > max || v < min || (minExclusive && v === min))
    throw invalidParam(
      key,
      `must be ${minExclusive ? 'above' : 'from'} ${min} ${minExclusive ? 'and at most' : 'to'} ${max}, got ${v}`,
    );
  return v;
}

function optionalBoolean(body: Body, key: string, prefix = ''): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean')
    throw invalidParam(`${prefix}${key}`, `must be a boolean, got ${describe(v)}`, 'invalid_type');
  return v;
}

function stopField(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string'))
    throw invalidParam(
      'stop',
      `must be a string or an array of strings, got ${describe(value)}`,
      'invalid_type',
    );
  if (list.length > MAX_STOP_SEQUENCES)
    throw invalidParam(
      'stop',
      `at most ${MAX_STOP_SEQUENCES} stop sequences are allowed, got ${list.length}`,
    );
  if ((list as string[]).some((s) => s.length > MAX_STOP_LENGTH))
    throw invalidParam('stop', `each stop sequence must be at most ${MAX_STOP_LENGTH} characters`);
  return (list as string[]).filter((s) => s.length > 0);
}

/** Fields whose meaning we cannot honour: refused unless set to their neutral value. */
function refuseUnsupported(body: Body, kind: 'chat' | 'completion'): void {
  const refuse = (key: string, what: string) =>
    invalidParam(key, `${what} is not supported by the LocalMoE endpoint`, 'unsupported_parameter');
  const set = (key: string) => body[key] !== undefined && body[key] !== null;
  if (set('n') && body.n !== 1) throw refuse('n', 'more than one choice (n > 1)');
  for (const key of ['presence_penalty', 'frequency_penalty']) {
    if (set(key) && body[key] !== 0) throw refuse(key, key.replace('_', ' '));
  }
  if (set('logprobs') && body.logprobs !== false && body.logprobs !== 0)
    throw refuse('logprobs', 'logprobs');
  if (set('top_logprobs') && body.top_logprobs !== 0) throw refuse('top_logprobs', 'logprobs');
  if (
    set('logit_bias') &&
    !(isObject(body.logit_bias) && Object.keys(body.logit_bias).length === 0)
  )
    throw refuse('logit_bias', 'logit_bias');
  if (kind === 'chat') {
    if (set('tools') && !(Array.isArray(body.tools) && body.tools.length === 0))
      throw refuse('tools', 'tool calling');
    if (set('functions')) throw refuse('functions', 'function calling');
    const format = body.response_format;
    if (format !== undefined && format !== null && !(isObject(format) && format.type === 'text'))
      throw refuse('response_format', 'a response format other than text');
  } else {
    if (set('echo') && body.echo !== false) throw refuse('echo', 'echo');
    if (set('suffix') && body.suffix !== '') throw refuse('suffix', 'suffix (fill-in-the-middle)');
    if (set('best_of') && body.best_of !== 1) throw refuse('best_of', 'best_of > 1');
  }
}

function isObject(v: unknown): v is Body {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Short description of a wrong value for error messages (never echoes a long user string). */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return v.length > 40 ? 'a string' : JSON.stringify(v);
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return typeof v;
}
