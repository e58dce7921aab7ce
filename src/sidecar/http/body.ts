// Reads a request body with a size cap. The cap is checked against Content-Length before reading
// and against the bytes received while reading (chunked uploads declare no length).
import type { IncomingMessage } from 'node:http';
import { ApiError } from './api-error';

export function tooLarge(limit: number): ApiError {
  return new ApiError(
    413,
    'invalid_request_error',
    `the request body is larger than ${limit} bytes: shorten the prompt`,
    null,
    'request_too_large',
  );
}

/** The body as UTF-8 text; rejects with a 413 ApiError past `limit` bytes, or when the client aborts. */
export function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      req.off('data', onData);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) finish(tooLarge(limit));
      else chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => finish());
    req.on('error', (err) => finish(err));
    req.on('aborted', () => finish(new Error('the client aborted the request')));
  });
}
