// Shape checks for request params: the client is ours, but a malformed request must get an
// InvalidParams answer naming the field, never a crash or a native TypeError from deep inside.
import { ErrorCodes, ResponseError } from 'vscode-jsonrpc';
import type {
  ChatParams,
  CompleteParams,
  InitializeParams,
  QuantizeParams,
  SamplingParams,
  ServeParams,
} from '../protocol';
import { checkTokenStrength } from './http/auth';
import { checkPort, loopbackBindAddress } from './http/loopback';

function fail(method: string, message: string): never {
  throw new ResponseError(ErrorCodes.InvalidParams, `${method}: ${message}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optionalNumber(
  method: string,
  p: Record<string, unknown>,
  key: string,
  min: number,
): void {
  const v = p[key];
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min)
    fail(method, `${key} must be a number >= ${min}`);
}

export function checkInitializeParams(p: InitializeParams): void {
  const m = 'localmoe/initialize';
  if (!isObject(p)) fail(m, 'params must be an object');
  if (typeof p.protocolVersion !== 'number') fail(m, 'protocolVersion must be a number');
  if (typeof p.modelPath !== 'string') fail(m, 'modelPath must be a string ("" = default model)');
  if (!['auto', 'cpu', 'cuda'].includes(p.device))
    fail(m, "device must be 'auto', 'cpu' or 'cuda'");
  optionalNumber(m, p as unknown as Record<string, unknown>, 'threads', 0);
  optionalNumber(m, p as unknown as Record<string, unknown>, 'maxContext', 0);
  if (p.offload !== undefined) {
    const o = p.offload as unknown;
    if (!isObject(o)) fail(m, 'offload must be an object');
    optionalNumber(m, o, 'vramBudgetBytes', 0);
    if (o.cachePolicy !== undefined && o.cachePolicy !== 'lru' && o.cachePolicy !== 'lfu') {
      fail(m, "offload.cachePolicy must be 'lru' or 'lfu'");
    }
    if (o.speculativeLoading !== undefined && typeof o.speculativeLoading !== 'boolean') {
      fail(m, 'offload.speculativeLoading must be a boolean');
    }
  }
}

function checkSampling(m: string, p: SamplingParams & { streamId: unknown }): void {
  const r = p as unknown as Record<string, unknown>;
  if (typeof p.maxTokens !== 'number' || !Number.isFinite(p.maxTokens) || p.maxTokens < 0)
    fail(m, 'maxTokens must be a number >= 0');
  optionalNumber(m, r, 'temperature', 0);
  optionalNumber(m, r, 'topP', 0);
  optionalNumber(m, r, 'topK', 0);
  optionalNumber(m, r, 'repetitionPenalty', 0);
  optionalNumber(m, r, 'seed', 0);
  optionalNumber(m, r, 'timeBudgetMs', 0);
  if (
    p.stop !== undefined &&
    (!Array.isArray(p.stop) || p.stop.some((s) => typeof s !== 'string'))
  ) {
    fail(m, 'stop must be an array of strings');
  }
  if (typeof p.streamId !== 'string') fail(m, 'streamId must be a string');
}

export function checkCompleteParams(p: CompleteParams): void {
  const m = 'localmoe/complete';
  if (!isObject(p)) fail(m, 'params must be an object');
  checkSampling(m, p);
  if (typeof p.prefix !== 'string') fail(m, 'prefix must be a string');
  if (typeof p.suffix !== 'string') fail(m, 'suffix must be a string');
  if (typeof p.languageId !== 'string') fail(m, 'languageId must be a string');
  if (p.fileName !== undefined && typeof p.fileName !== 'string')
    fail(m, 'fileName must be a string');
}

export function checkChatParams(p: ChatParams): void {
  const m = 'localmoe/chat';
  if (!isObject(p)) fail(m, 'params must be an object');
  checkSampling(m, p);
  if (!Array.isArray(p.messages) || p.messages.length === 0)
    fail(m, 'messages must be a non-empty array');
  for (const msg of p.messages) {
    if (
      !isObject(msg) ||
      !['system', 'user', 'assistant'].includes(msg.role as string) ||
      typeof msg.content !== 'string'
    ) {
      fail(m, "each message needs role 'system' | 'user' | 'assistant' and a string content");
    }
  }
}

/** localmoe/serve: host, port and token problems are the caller's to fix, so InvalidParams. */
export function checkServeParams(p: ServeParams): void {
  const m = 'localmoe/serve';
  if (!isObject(p)) fail(m, 'params must be an object');
  if (typeof p.enabled !== 'boolean') fail(m, 'enabled must be a boolean');
  if (p.host !== undefined && typeof p.host !== 'string') fail(m, 'host must be a string');
  if (p.token !== undefined && typeof p.token !== 'string') fail(m, 'token must be a string');
  if (p.port !== undefined && typeof p.port !== 'number') fail(m, 'port must be a number');
  const max = p.maxConcurrentRequests;
  if (max !== undefined && (typeof max !== 'number' || !Number.isInteger(max) || max < 1))
    fail(m, 'maxConcurrentRequests must be an integer >= 1');
  try {
    loopbackBindAddress(p.host);
    if (p.port !== undefined) checkPort(p.port);
    if (p.token !== undefined) checkTokenStrength(p.token);
  } catch (err) {
    fail(m, (err as Error).message);
  }
}

export function checkQuantizeParams(p: QuantizeParams): void {
  const m = 'localmoe/quantize';
  if (!isObject(p)) fail(m, 'params must be an object');
  for (const key of ['modelDir', 'outDir', 'preset', 'progressId'] as const) {
    if (typeof p[key] !== 'string' || p[key] === '') fail(m, `${key} must be a non-empty string`);
  }
  if (p.method !== undefined && p.method !== 'hqq' && p.method !== 'rtn')
    fail(m, "method must be 'hqq' or 'rtn'");
  const t = p.threads as unknown;
  if (t !== undefined && (typeof t !== 'number' || !Number.isInteger(t) || t < 0))
    fail(m, 'threads must be an integer >= 0');
}
