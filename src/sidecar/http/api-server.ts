// The OpenAI-compatible HTTP server: routing, bearer auth, body and concurrency limits, and the
// guarantee that no request can crash the sidecar (every failure becomes an error object).
//
// Order of checks for each request: auth (401) -> route (404) -> method (405) -> concurrency (429)
// -> body size (413) -> JSON and field types (400) -> model loaded (503) -> generation.
// Auth comes first so that an unauthenticated caller learns nothing, not even which routes exist.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log';
import { ApiError } from './api-error';
import { authorizationMatches } from './auth';
import type { ApiBackend } from './backend';
import { readBody } from './body';
import { StreamFailure, serveGeneration, toApiError } from './generate-route';
import type { ApiRequest, ModelList } from './openai-types';
import { parseChatRequest, parseCompletionRequest, type Parsed } from './parse-request';
import { endEventStream, writeEvent } from './sse';

export interface ApiServerOptions {
  backend: ApiBackend;
  token: string;
  log: Logger;
  /** Largest request body accepted (413 above). */
  maxBodyBytes: number;
  /** Generation requests in flight at once, from arrival to the end of the answer (429 above). */
  maxConcurrentRequests: number;
}

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_MAX_CONCURRENT_REQUESTS = 4;
/** A client has this long to send its whole request (headers + body); slow uploads hold a slot. */
const REQUEST_TIMEOUT_MS = 30_000;

type Route = 'models' | 'model' | 'chat' | 'completions';

const ROUTES: { pattern: RegExp; route: Route; method: 'GET' | 'POST' }[] = [
  { pattern: /^\/v1\/models$/, route: 'models', method: 'GET' },
  { pattern: /^\/v1\/models\/[^/]+$/, route: 'model', method: 'GET' },
  { pattern: /^\/v1\/chat\/completions$/, route: 'chat', method: 'POST' },
  { pattern: /^\/v1\/completions$/, route: 'completions', method: 'POST' },
];

export class ApiServer {
  private readonly server: http.Server;
  private inFlight = 0;
  private readonly started = Math.floor(Date.now() / 1000);

  constructor(private readonly options: ApiServerOptions) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.requestTimeout = REQUEST_TIMEOUT_MS;
    // Keep-alive sockets must not keep the process (CLI) or a restart waiting.
    this.server.keepAliveTimeout = 5_000;
    this.server.on('clientError', (_err, socket) => {
      // Unparseable HTTP: answer 400 if the socket still can, never throw.
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  /** Generation requests currently counted against the limit (tests watch it). */
  get requestsInFlight(): number {
    return this.inFlight;
  }

  /** Listens on host:port (0 = any free port); resolves with the port actually bound. */
  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        this.server.off('listening', onListening);
        reject(
          new Error(
            err.code === 'EADDRINUSE'
              ? `port ${port} on ${host} is already in use: choose another port or 0 for any free one`
              : `cannot listen on ${host}:${port} (${err.message})`,
          ),
        );
      };
      const onListening = () => {
        this.server.off('error', onError);
        resolve((this.server.address() as AddressInfo).port);
      };
      this.server.once('error', onError);
      this.server.once('listening', onListening);
      this.server.listen(port, host);
    });
  }

  /** Stops listening and drops open connections (their generations are cancelled by the close). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // A reset mid-upload must end this request only; readBody reports it where it reads.
    req.on('error', () => undefined);
    try {
      await this.route(req, res);
    } catch (err) {
      const failure = err instanceof StreamFailure ? err.error : toApiError(err);
      if (!(err instanceof ApiError) && !(err instanceof StreamFailure))
        this.options.log.error(`HTTP ${req.method} ${req.url}: ${failure.message}`);
      sendError(res, failure);
    }
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!authorizationMatches(req.headers.authorization, this.options.token)) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      throw new ApiError(
        401,
        'authentication_error',
        'missing or wrong API token: send "Authorization: Bearer <token>" with the token LocalMoE printed',
        null,
        'invalid_api_key',
      );
    }
    const path = (req.url ?? '/').split('?')[0].replace(/\/+$/, '');
    const match = ROUTES.find((r) => r.pattern.test(path));
    if (!match) {
      throw new ApiError(
        404,
        'not_found_error',
        `unknown URL ${req.method} ${path}: see GET /v1/models`,
        null,
        'unknown_url',
      );
    }
    if (req.method !== match.method) {
      res.setHeader('Allow', match.method);
      throw new ApiError(
        405,
        'invalid_request_error',
        `${path} accepts ${match.method} only, not ${req.method}`,
        null,
        'method_not_allowed',
      );
    }
    if (match.route === 'models' || match.route === 'model')
      return this.models(res, match.route, path);

    if (this.inFlight >= this.options.maxConcurrentRequests) {
      res.setHeader('Retry-After', '1');
      throw new ApiError(
        429,
        'rate_limit_error',
        `too many requests in flight (limit ${this.options.maxConcurrentRequests}): retry when one finishes`,
        null,
        'rate_limit_exceeded',
      );
    }
    this.inFlight++;
    res.once('close', () => this.inFlight--);

    let text: string;
    try {
      text = await readBody(req, this.options.maxBodyBytes);
    } catch (err) {
      // The client is still uploading: close the connection after the answer rather than read on.
      res.setHeader('Connection', 'close');
      throw err;
    }
    const parsed: Parsed<ApiRequest> =
      match.route === 'chat' ? parseChatRequest(text) : parseCompletionRequest(text);
    if (!parsed.ok) throw parsed.error;
    const model = this.options.backend.modelId();
    if (!model)
      throw new ApiError(
        503,
        'server_error',
        'no model is loaded yet: retry in a moment',
        null,
        'model_not_loaded',
      );
    const outcome = await serveGeneration(parsed.value, model, this.options.backend, res);
    const r = outcome.result;
    this.options.log.debug(
      `HTTP ${path}: ${outcome.clientGone ? 'client disconnected, generation cancelled' : 'answered'}` +
        (r
          ? ` (${r.promptTokens} prompt + ${r.completionTokens} completion tokens, ${r.finishReason})`
          : ''),
    );
  }

  private models(res: http.ServerResponse, route: 'models' | 'model', path: string): void {
    const id = this.options.backend.modelId();
    const list: ModelList = {
      object: 'list',
      data: id ? [{ id, object: 'model', created: this.started, owned_by: 'localmoe' }] : [],
    };
    if (route === 'model') {
      const asked = decodeURIComponentSafe(path.slice('/v1/models/'.length));
      const found = list.data.find((m) => m.id === asked);
      if (!found)
        throw new ApiError(
          404,
          'invalid_request_error',
          `model ${JSON.stringify(asked)} is not loaded`,
          'model',
          'model_not_found',
        );
      return sendJson(res, 200, found);
    }
    sendJson(res, 200, list);
  }
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** An error as a status + error object, or as the last event of a stream that already began. */
function sendError(res: http.ServerResponse, err: ApiError): void {
  if (res.writableEnded || res.destroyed) return;
  if (res.headersSent) {
    writeEvent(res, err.toBody());
    endEventStream(res);
    return;
  }
  sendJson(res, err.status, err.toBody());
}
