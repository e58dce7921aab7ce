// Shared by the HTTP endpoint tests: a real SidecarServer in this process (real addon, real model)
// with its endpoint started, a recording logger, and small HTTP/SSE utilities over node's fetch.
import * as path from 'node:path';
import { PROTOCOL_VERSION } from '../../src/protocol';
import type { Logger } from '../../src/sidecar/log';
import type { EndpointSettings } from '../../src/sidecar/http/endpoint';
import { SidecarServer } from '../../src/sidecar/server';
import { addon } from '../addon/helpers';
import { repoRoot } from '../sidecar/helpers/repo';

export const EMBEDDED_MODEL = (): string => path.join(repoRoot(), 'models', 'localmoe-code-tiny');

export interface RecordingLogger extends Logger {
  lines: string[];
}

export function recordingLogger(): RecordingLogger {
  const lines: string[] = [];
  const at = (level: string) => (m: string) => void lines.push(`[${level}] ${m}`);
  return { lines, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

export interface ServerUnderTest {
  sidecar: SidecarServer;
  log: RecordingLogger;
  url: string;
  token: string;
  stop(): Promise<void>;
}

/** Loads `modelDir` into a fresh SidecarServer and starts its HTTP endpoint on a free port. */
export async function startServer(
  modelDir: string,
  settings: EndpointSettings = {},
  maxContext = 2048,
): Promise<ServerUnderTest> {
  const log = recordingLogger();
  const sidecar = new SidecarServer({ loadAddon: () => addon(), log, exit: () => undefined });
  await sidecar.loadModel({
    protocolVersion: PROTOCOL_VERSION,
    modelPath: modelDir,
    device: 'cpu',
    threads: 1,
    maxContext,
  });
  const { url, token } = await sidecar.http.start({ port: 0, ...settings });
  if (!url || !token) throw new Error('endpoint did not start');
  return {
    sidecar,
    log,
    url,
    token,
    stop: async () => {
      await sidecar.http.stop();
      sidecar.dispose();
    },
  };
}

export interface Reply {
  status: number;
  headers: Headers;
  body: unknown;
}

/** One request, JSON answer parsed (or the raw text when it is not JSON). */
export async function call(
  s: { url: string; token: string },
  method: string,
  route: string,
  body?: unknown,
  options: { token?: string | null; raw?: string; signal?: AbortSignal } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json' };
  const token = options.token === undefined ? s.token : options.token;
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(`${s.url}${route}`, {
    method,
    headers,
    body: options.raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    signal: options.signal,
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** The `data:` payloads of an SSE body, [DONE] included as the string. */
export function sseData(text: string): string[] {
  return text
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice('data: '.length));
}

export interface ErrorObject {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function isErrorObject(v: unknown): v is ErrorObject {
  if (typeof v !== 'object' || v === null) return false;
  const e = (v as { error?: unknown }).error;
  if (typeof e !== 'object' || e === null) return false;
  const { message, type, param, code } = e as Record<string, unknown>;
  return (
    typeof message === 'string' &&
    message.length > 0 &&
    typeof type === 'string' &&
    (param === null || typeof param === 'string') &&
    (code === null || typeof code === 'string')
  );
}

export { prng } from '../sidecar/helpers/prng';

export async function waitFor(
  what: string,
  check: () => boolean,
  timeoutMs = 10000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
