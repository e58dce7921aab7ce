// Server-sent events as OpenAI streams them: one `data: <json>` event per chunk, `data: [DONE]` last.
import type { ServerResponse } from 'node:http';

export function startEventStream(res: ServerResponse): void {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    // Reverse proxies (nginx) must not buffer a token stream.
    'X-Accel-Buffering': 'no',
  });
}

export function writeEvent(res: ServerResponse, data: unknown): void {
  if (!res.writableEnded && !res.destroyed) res.write(`data: ${JSON.stringify(data)}\n\n`);
}

export function endEventStream(res: ServerResponse): void {
  if (res.writableEnded || res.destroyed) return;
  res.end('data: [DONE]\n\n');
}
