// Pure parts of the `localmoe.server.*` settings: what localmoe/serve is sent, the token format, and
// the texts of Show Server Info and the status tooltip. No `vscode`: unit-tested.
import { randomBytes } from 'node:crypto';
import type { ServeParams, ServeResult } from '../protocol';
import type { LocalMoeConfig } from '../config/schema';

/** SecretStorage key of the endpoint's bearer token (generated once, kept across restarts). */
export const SERVER_TOKEN_SECRET = 'localmoe.server.token';

/** The endpoint as the extension last saw it. */
export type EndpointState =
  | { kind: 'off' }
  | { kind: 'on'; url: string; token: string }
  | { kind: 'failed'; message: string };

/** 256 random bits, URL-safe (the sidecar requires ≥ 16 characters). */
export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Loopback only, always with our stored token so configured tools survive editor restarts. */
export function serveParamsFor(server: LocalMoeConfig['server'], token: string): ServeParams {
  return server.enabled
    ? { enabled: true, port: server.port, host: '127.0.0.1', token }
    : { enabled: false };
}

export function endpointStateOf(result: ServeResult): EndpointState {
  return result.enabled && result.url && result.token
    ? { kind: 'on', url: result.url, token: result.token }
    : { kind: 'off' };
}

/** One Markdown line for the status tooltip, or undefined when the endpoint is off. */
export function endpointTooltipLine(state: EndpointState): string | undefined {
  if (state.kind === 'on')
    return `OpenAI-compatible endpoint: \`${state.url}\` ([info](command:localmoe.showServerInfo))`;
  if (state.kind === 'failed') return `OpenAI-compatible endpoint failed: ${state.message}`;
  return undefined;
}

/** Text of Show Server Info. */
export function serverInfoMessage(state: EndpointState, enabled: boolean): string {
  if (state.kind === 'on')
    return `LocalMoE serves an OpenAI-compatible API at ${state.url} (send "Authorization: Bearer <token>").`;
  if (state.kind === 'failed') return `LocalMoE endpoint could not start: ${state.message}`;
  return enabled
    ? 'LocalMoE endpoint is enabled and starts with the engine (the engine is not running yet).'
    : 'LocalMoE endpoint is off: enable the setting localmoe.server.enabled.';
}
