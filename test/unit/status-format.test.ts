import * as assert from 'node:assert/strict';
import type { SupervisorState } from '../../src/client/supervisor';
import type {
  EngineStatus,
  InitializeResult,
  ModelSummary,
  StatusCounters,
} from '../../src/protocol';
import { expertUsageTable, formatBytes, formatMemory, renderStatus } from '../../src/status/format';

const model: ModelSummary = {
  path: '',
  name: 'tiny',
  architecture: 'MixtralForCausalLM',
  numLayers: 2,
  numExperts: 4,
  expertsPerToken: 2,
  vocabSize: 32000,
  weightDtype: 'f32',
  device: 'cpu',
};
const info: InitializeResult = {
  protocolVersion: 1,
  engineVersion: '0',
  backends: ['cpu'],
  model,
  loadMs: 5,
};
const running: SupervisorState = { kind: 'running', info };
const counters: StatusCounters = {
  promptTokens: 10,
  generatedTokens: 20,
  lastTokensPerSecond: 12.345,
  lastTtftMs: 80,
  memoryBytes: 3 * 2 ** 30,
  vramUsedBytes: 0,
  vramBudgetBytes: 0,
  expertCacheHitRate: null,
  expertUsage: [
    [1, 1, 2, 0],
    [0, 0, 0, 0],
  ],
};
const ready = (c: Partial<StatusCounters> = {}, m: Partial<ModelSummary> = {}): EngineStatus => ({
  health: 'ready',
  message: 'ready',
  model: { ...model, ...m },
  counters: { ...counters, ...c },
});

describe('status formatting', () => {
  it('formats bytes in binary units', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(12 * 2 ** 30), '12.0 GiB');
  });

  it('shows RAM held by the engine on the CPU, no hit rate when there is no cache', () => {
    const v = renderStatus({ state: running, status: ready(), completionsEnabled: true });
    assert.equal(v.text, '$(chip) LocalMoE · RAM 3.0 GiB · 12.3 tok/s');
    assert.equal(v.severity, 'normal');
    assert.doesNotMatch(v.text, /hit/);
  });

  it('shows VRAM used of budget and the hit rate on CUDA', () => {
    const s = ready(
      { vramUsedBytes: 10 * 2 ** 30, vramBudgetBytes: 12 * 2 ** 30, expertCacheHitRate: 0.784 },
      { device: 'cuda' },
    );
    const v = renderStatus({ state: running, status: s, completionsEnabled: true });
    assert.equal(v.text, '$(chip) LocalMoE · VRAM 10.0/12.0 GiB · hit 78% · 12.3 tok/s');
    assert.match(v.tooltip, /VRAM used \/ budget \| 10\.0 GiB \/ 12\.0 GiB/);
  });

  it('shows no numbers the engine did not report', () => {
    const v = renderStatus({ state: running, status: undefined, completionsEnabled: true });
    assert.equal(v.text, '$(chip) LocalMoE: ready');
    const zero = renderStatus({
      state: running,
      status: ready({ lastTokensPerSecond: 0, memoryBytes: 0 }),
      completionsEnabled: true,
    });
    assert.equal(zero.text, '$(chip) LocalMoE: ready');
  });

  it('renders starting, loading, generating, restarting and error states', () => {
    const loading: EngineStatus = { health: 'loading', message: 'loading', progress: 0.42 };
    assert.equal(
      renderStatus({ state: { kind: 'starting' }, status: undefined, completionsEnabled: true })
        .text,
      '$(loading~spin) LocalMoE: starting',
    );
    assert.equal(
      renderStatus({ state: { kind: 'starting' }, status: loading, completionsEnabled: true }).text,
      '$(loading~spin) LocalMoE: loading 42%',
    );
    const busy = { ...ready(), health: 'busy' as const };
    assert.match(
      renderStatus({ state: running, status: busy, completionsEnabled: true }).text,
      /^\$\(sync~spin\) LocalMoE: generating · RAM/,
    );
    const restarting = renderStatus({
      state: { kind: 'restarting', reason: 'signal SIGKILL', delayMs: 2000, attempt: 2 },
      status: undefined,
      completionsEnabled: true,
    });
    assert.equal(restarting.severity, 'warning');
    assert.equal(restarting.text, '$(warning) LocalMoE: restarting in 2s');
    const failed = renderStatus({
      state: { kind: 'failed', reason: 'config.json not found in /x', actions: ['selectModel'] },
      status: undefined,
      completionsEnabled: false,
    });
    assert.equal(failed.severity, 'error');
    assert.equal(failed.text, '$(error) LocalMoE: error');
    assert.match(failed.tooltip, /config\.json not found in \/x/);
    assert.match(failed.tooltip, /Inline completions: off$/m);
    const counted = renderStatus({
      state: running,
      status: ready(),
      completionsEnabled: true,
      completionStats: { shown: 10, accepted: 3, cacheHits: 4 },
    });
    assert.match(
      counted.tooltip,
      /Inline completions: on — this session: 3 of 10 suggestions accepted, 4 served from cache/,
    );
  });

  it('puts counters, per-layer expert usage and command links in the tooltip', () => {
    const v = renderStatus({ state: running, status: ready(), completionsEnabled: true });
    assert.match(v.tooltip, /tokens prompted \/ generated \| 10 \/ 20/);
    assert.match(v.tooltip, /no cache \(all experts resident\)/);
    assert.match(v.tooltip, /\| 0 \| 25% \| 25% \| 50% \| 0% \|/);
    assert.match(v.tooltip, /\| 1 \| – \| – \| – \| – \|/);
    assert.match(v.tooltip, /\(command:localmoe\.restartEngine\)/);
  });

  it('formats memory only from counters', () => {
    assert.equal(formatMemory({ ...counters, memoryBytes: 0 }, 'cpu'), undefined);
    assert.equal(expertUsageTable([]), '');
  });
});
