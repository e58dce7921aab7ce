// POST /v1/chat/completions and /v1/completions once the request is parsed: runs it on the backend
// (the sidecar's scheduler) and answers as one JSON object or as an SSE stream.
//
// The stream's headers are sent with its first chunk, not before: errors that come before any text
// (prompt too long, no model, server stopping) still get a real status code and error object.
// A client that disconnects (response closed before it finished) aborts the request's signal, which
// cancels the job whether it is still queued or already generating.
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { ErrorCodes, ResponseError } from 'vscode-jsonrpc';
import { LocalMoeErrorCodes, type GenerationResult } from '../../protocol';
import { ApiError } from './api-error';
import type { ApiBackend } from './backend';
import type { ApiRequest } from './openai-types';
import {
  apiFinishReason,
  chatChunk,
  chatCompletion,
  chatUsageChunk,
  textChunk,
  textCompletion,
  textUsageChunk,
  type ResponseMeta,
} from './responses';
import { endEventStream, startEventStream, writeEvent } from './sse';

export interface GenerationOutcome {
  /** What the backend returned; undefined when it failed. */
  result?: GenerationResult;
  /** The client went away before the answer was complete. */
  clientGone: boolean;
}

export async function serveGeneration(
  request: ApiRequest,
  model: string,
  backend: ApiBackend,
  res: ServerResponse,
): Promise<GenerationOutcome> {
  const meta: ResponseMeta = {
    id: `${request.kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomBytes(12).toString('hex')}`,
    created: Math.floor(Date.now() / 1000),
    model,
  };
  const controller = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) controller.abort();
  };
  res.on('close', onClose);

  let streaming = false;
  const startStream = () => {
    if (streaming) return;
    streaming = true;
    startEventStream(res);
    if (request.kind === 'chat')
      writeEvent(res, chatChunk(meta, { role: 'assistant', content: '' }));
  };
  const onDelta = (delta: string) => {
    if (!request.stream || controller.signal.aborted) return;
    startStream();
    writeEvent(
      res,
      request.kind === 'chat' ? chatChunk(meta, { content: delta }) : textChunk(meta, delta),
    );
  };

  const sampling = {
    maxTokens: request.sampling.maxTokens,
    temperature: request.sampling.temperature,
    topP: request.sampling.topP,
    seed: request.sampling.seed,
    stop: request.sampling.stop,
    streamId: meta.id,
  };
  let result: GenerationResult;
  try {
    result =
      request.kind === 'chat'
        ? await backend.chat(
            { ...sampling, messages: request.messages },
            controller.signal,
            onDelta,
          )
        : await backend.continueText(
            { ...sampling, prompt: request.prompt },
            controller.signal,
            onDelta,
          );
  } catch (err) {
    if (controller.signal.aborted) return { clientGone: true };
    const failure = toApiError(err, request.kind === 'chat' ? 'messages' : 'prompt');
    throw streaming ? new StreamFailure(failure) : failure;
  } finally {
    res.off('close', onClose);
  }
  if (controller.signal.aborted) return { result, clientGone: true };
  if (result.finishReason === 'cancelled' || result.finishReason === 'error') {
    const err = new ApiError(
      503,
      'server_error',
      'the generation was cancelled by the server (model reload or endpoint stopping): retry',
      null,
      'cancelled',
    );
    throw streaming ? new StreamFailure(err) : err;
  }

  if (!request.stream) {
    const body =
      request.kind === 'chat' ? chatCompletion(meta, result) : textCompletion(meta, result);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
    return { result, clientGone: false };
  }
  startStream();
  const finish = apiFinishReason(result.finishReason);
  writeEvent(
    res,
    request.kind === 'chat' ? chatChunk(meta, {}, finish) : textChunk(meta, '', finish),
  );
  if (request.includeUsage)
    writeEvent(
      res,
      request.kind === 'chat' ? chatUsageChunk(meta, result) : textUsageChunk(meta, result),
    );
  endEventStream(res);
  return { result, clientGone: false };
}

/** An error after the stream began: it can only be reported as a last `data: {error}` event. */
export class StreamFailure extends Error {
  constructor(readonly error: ApiError) {
    super(error.message);
  }
}

/** Backend (JSON-RPC style) errors to HTTP answers. */
export function toApiError(err: unknown, inputParam: string | null = null): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof ResponseError) {
    if (err.code === LocalMoeErrorCodes.NotInitialized)
      return new ApiError(503, 'server_error', err.message, null, 'model_not_loaded');
    if (err.code === ErrorCodes.InvalidParams)
      return new ApiError(400, 'invalid_request_error', err.message, inputParam, 'invalid_prompt');
    // fitChat's message: the conversation cannot fit the context even with old turns dropped.
    if (/fit next to the reply/.test(err.message))
      return new ApiError(
        400,
        'invalid_request_error',
        err.message,
        'messages',
        'context_length_exceeded',
      );
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ApiError(
    500,
    'server_error',
    `generation failed: ${message}`,
    null,
    'generation_failed',
  );
}
