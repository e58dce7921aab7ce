// Pure parts of remote engine mode: URL normalisation and the status-bar rendering.
import * as assert from 'node:assert/strict';
import { normalizeRemoteUrl, type RemoteStatus } from '../../src/engine/remote-backend';
import { renderRemoteStatus } from '../../src/status/remote-format';

describe('remote engine mode (pure parts)', () => {
  it('normalises the URL to the /v1 base and names the host', () => {
    assert.deepEqual(normalizeRemoteUrl('http://gpu-box:8808'), {
      baseUrl: 'http://gpu-box:8808/v1',
      host: 'gpu-box:8808',
    });
    assert.deepEqual(normalizeRemoteUrl(' https://api.example.com/v1/ '), {
      baseUrl: 'https://api.example.com/v1',
      host: 'api.example.com',
    });
    assert.deepEqual(normalizeRemoteUrl('http://h/openai/v1'), {
      baseUrl: 'http://h/openai/v1',
      host: 'h',
    });
    assert.match((normalizeRemoteUrl('gpu-box:8808') as { error: string }).error, /http/);
    assert.match((normalizeRemoteUrl('not a url') as { error: string }).error, /not a URL/);
  });

  const base: RemoteStatus = {
    host: 'gpu-box:8808',
    baseUrl: 'http://gpu-box:8808/v1',
    health: 'healthy',
    message: 'models: mixtral',
    clientTtftMs: 0,
    clientTokensPerSecond: 0,
  };

  it('shows "remote: <host>" with client-measured speed labelled as such', () => {
    const idle = renderRemoteStatus(base, true);
    assert.equal(idle.text, '$(cloud) LocalMoE remote: gpu-box:8808');
    assert.equal(idle.severity, 'normal');
    const busy = renderRemoteStatus(
      { ...base, clientTtftMs: 412.4, clientTokensPerSecond: 23.456 },
      true,
    );
    assert.equal(busy.text, '$(cloud) LocalMoE remote: gpu-box:8808 · 23.5 tok/s (client)');
    assert.match(busy.tooltip, /measured by this client/);
    assert.match(busy.tooltip, /\| last time to first token \| 412 ms \|/);
    assert.match(busy.tooltip, /\| last decode speed \| 23\.46 tok\/s \|/);
  });

  it('shows an unreachable server as an error with the reason', () => {
    const v = renderRemoteStatus(
      {
        ...base,
        health: 'unreachable',
        message: 'cannot reach http://gpu-box:8808/v1/models: ECONNREFUSED',
        clientTokensPerSecond: 9,
      },
      false,
    );
    assert.equal(v.text, '$(cloud-offline) LocalMoE remote: gpu-box:8808 · unreachable');
    assert.equal(v.severity, 'error');
    assert.match(v.tooltip, /ECONNREFUSED/);
    assert.match(v.tooltip, /Inline completions: off/);
  });
});
