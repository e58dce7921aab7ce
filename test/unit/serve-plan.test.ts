// Pure parts of the localmoe.server.* settings: serve params, token, endpoint texts.
import * as assert from 'node:assert/strict';
import {
  endpointStateOf,
  endpointTooltipLine,
  generateToken,
  serveParamsFor,
  serverInfoMessage,
} from '../../src/server/serve-plan';
import { renderStatus } from '../../src/status/format';

describe('endpoint settings → localmoe/serve', () => {
  it('sends loopback, the port and the stored token when enabled; only enabled:false when off', () => {
    assert.deepEqual(serveParamsFor({ enabled: true, port: 8808 }, 't'.repeat(20)), {
      enabled: true,
      port: 8808,
      host: '127.0.0.1',
      token: 't'.repeat(20),
    });
    assert.deepEqual(serveParamsFor({ enabled: false, port: 8808 }, 'x'.repeat(20)), {
      enabled: false,
    });
  });

  it('generates distinct URL-safe 256-bit tokens the sidecar accepts (≥ 16 chars)', () => {
    const a = generateToken();
    const b = generateToken();
    assert.notEqual(a, b);
    assert.match(a, /^[A-Za-z0-9_-]{43}$/);
  });

  it('maps serve results and renders the endpoint in the tooltip and the info text', () => {
    const on = endpointStateOf({
      enabled: true,
      url: 'http://127.0.0.1:8808/v1',
      token: 'k'.repeat(20),
    });
    assert.deepEqual(on, { kind: 'on', url: 'http://127.0.0.1:8808/v1', token: 'k'.repeat(20) });
    assert.deepEqual(endpointStateOf({ enabled: false, url: null, token: null }), { kind: 'off' });
    assert.match(endpointTooltipLine(on) ?? '', /`http:\/\/127\.0\.0\.1:8808\/v1`/);
    assert.equal(endpointTooltipLine({ kind: 'off' }), undefined);
    assert.match(
      endpointTooltipLine({ kind: 'failed', message: 'port in use' }) ?? '',
      /failed: port in use/,
    );
    assert.match(serverInfoMessage(on, true), /at http:\/\/127\.0\.0\.1:8808\/v1/);
    assert.doesNotMatch(
      serverInfoMessage(on, true),
      /k{20}/,
      'the token is not shown in the message',
    );
    assert.match(
      serverInfoMessage({ kind: 'off' }, false),
      /enable the setting localmoe\.server\.enabled/,
    );
    const view = renderStatus({
      state: { kind: 'idle' },
      status: undefined,
      completionsEnabled: true,
      endpoint: endpointTooltipLine(on),
    });
    assert.match(view.tooltip, /OpenAI-compatible endpoint: `http:\/\/127\.0\.0\.1:8808\/v1`/);
    const off = renderStatus({
      state: { kind: 'idle' },
      status: undefined,
      completionsEnabled: true,
    });
    assert.doesNotMatch(off.tooltip, /endpoint/);
  });
});
