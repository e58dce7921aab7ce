import * as assert from 'node:assert/strict';
import type { SupervisorState } from '../../src/client/supervisor';
import type {
  EngineStatus,
  InitializeResult,
  ModelSummary,
  StatusCounters,
} from '../../src/protocol';
import { buildStatus } from '../../src/sidecar/status';
import type { EngineCounters, ModelInfo } from '../../src/sidecar/addon-types';
import {
  cacheOccupancy,
  engineCounterRows,
  expertUsageTable,
  formatBytes,
  formatMemory,
  renderStatus,
} from '../../src/status/format';

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
    assert.equal(v.text, '$(chip) LocalMoE · VRAM 10.0/12.0 GiB · cache hit 78% · 12.3 tok/s');
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

  it('formats the per-layer cache occupancy compactly', () => {
    assert.equal(cacheOccupancy([]), '');
    assert.equal(cacheOccupancy([[], []]), '');
    assert.equal(
      cacheOccupancy([
        [1, 4, 7],
        [0, -1, -1],
      ]),
      'L0: 1 4 7 · L1: 0 – –',
    );
    const five = cacheOccupancy([[0], [1], [2], [3], [4]], 4);
    assert.equal(five, 'L0: 0 · L1: 1 · L2: 2 · L3: 3  \nL4: 4');
  });

  it('lists the newer engine counters only when reported', () => {
    assert.deepEqual(engineCounterRows(counters), []);
    const rows = engineCounterRows({
      ...counters,
      cache: {
        hits: 90,
        misses: 10,
        cpuComputed: 3,
        prefetchIssued: 20,
        prefetchUsed: 15,
        prefetchWasted: 5,
        bytesCopied: 2e9,
        copyMs: 50,
        computeWaitMs: 12.34,
        slots: [[1, 2]],
      },
      vram: {
        dense: 2 ** 30,
        experts: 2 ** 31,
        kvCache: 2 ** 28,
        workspace: 2 ** 20,
        budget: 2 ** 33,
      },
      reusedPromptTokens: 120,
      kvSlotEvictions: 2,
    }).join('\n');
    assert.match(rows, /expert cache hits \/ misses \| 90 \/ 10 \|/);
    assert.match(rows, /prefetches issued \/ used \/ wasted \| 20 \/ 15 \/ 5 \(75% used\)/);
    assert.match(rows, /expert bytes copied \| 1\.9 GiB in 50\.0 ms, 40\.0 GB\/s/);
    assert.match(rows, /compute waiting for copies \| 12\.3 ms/);
    assert.match(
      rows,
      /VRAM dense \/ experts \/ KV \/ workspace \| 1\.0 GiB \/ 2\.0 GiB \/ 256 MiB \/ 1\.0 MiB/,
    );
    assert.match(rows, /prompt tokens reused from KV \| 120/);
    assert.match(rows, /KV slot evictions \| 2/);
  });

  describe('with the engine counters of a newer addon (through buildStatus)', () => {
    const modelInfo = { memoryBytes: 3 * 2 ** 30 } as ModelInfo;
    const base: EngineCounters = {
      promptTokens: 10,
      generatedTokens: 20,
      prefillMs: 1,
      decodeMs: 2,
      expertUsage: [[1, 1]],
    };
    const statusOf = (c: Partial<EngineCounters>, device: 'cpu' | 'cuda') =>
      buildStatus(
        'ready',
        'ready',
        { ...model, device },
        {
          info: modelInfo,
          counters: { ...base, ...c },
          last: { ttftMs: 80, tokensPerSecond: 12.345 },
        },
      );
    const cache = {
      hits: 78,
      misses: 22,
      cpuComputed: 0,
      prefetchIssued: 0,
      prefetchUsed: 0,
      prefetchWasted: 0,
      bytesCopied: 0,
      copyMs: 0,
      computeWaitMs: 0,
      slots: [
        [1, 4, 7],
        [2, -1, -1],
      ],
    };
    const vram = {
      dense: 2 * 2 ** 30,
      experts: 7 * 2 ** 30,
      kvCache: 2 ** 30,
      workspace: 0,
      budget: 12 * 2 ** 30,
    };

    it('CUDA: VRAM used/budget and cache hit rate in the text, occupancy in the tooltip', () => {
      const v = renderStatus({
        state: running,
        status: statusOf({ cache, vram, reusedPromptTokens: 5, kvSlotEvictions: 0 }, 'cuda'),
        completionsEnabled: true,
      });
      assert.equal(v.text, '$(chip) LocalMoE · VRAM 10.0/12.0 GiB · cache hit 78% · 12.3 tok/s');
      assert.match(v.tooltip, /L0: 1 4 7 · L1: 2 – –/);
      assert.match(v.tooltip, /expert cache hit rate \| 78%/);
      assert.match(v.tooltip, /prompt tokens reused from KV \| 5/);
    });

    it('CPU: all-zero VRAM and an empty cache show neither figure', () => {
      const zeroVram = { dense: 0, experts: 0, kvCache: 0, workspace: 0, budget: 0 };
      const noCache = { ...cache, hits: 0, misses: 0, slots: [] };
      const v = renderStatus({
        state: running,
        status: statusOf({ cache: noCache, vram: zeroVram }, 'cpu'),
        completionsEnabled: true,
      });
      assert.equal(v.text, '$(chip) LocalMoE · RAM 3.0 GiB · 12.3 tok/s');
      assert.doesNotMatch(v.tooltip, /VRAM/);
      assert.doesNotMatch(v.tooltip, /Expert cache per layer/);
      assert.doesNotMatch(v.tooltip, /expert cache hits|prefetches|bytes copied/);
      assert.match(v.tooltip, /no cache \(all experts resident\)/);
    });

    it('an addon that leaves out some cache counters: the rest is shown, nothing made up', () => {
      // As native/addon/convert.cpp reports today: no computeWaitMs.
      const { computeWaitMs: _omit, ...partial } = {
        ...cache,
        prefetchIssued: 8,
        prefetchUsed: 6,
        bytesCopied: 2 ** 20,
        copyMs: 1,
      };
      void _omit;
      const s = statusOf({ cache: partial as EngineCounters['cache'], vram }, 'cuda');
      assert.ok(s.counters?.cache);
      assert.equal(s.counters.cache.computeWaitMs, undefined);
      const v = renderStatus({ state: running, status: s, completionsEnabled: true });
      assert.match(v.text, /cache hit 78%/);
      assert.match(v.tooltip, /prefetches issued \/ used \/ wasted \| 8 \/ 6 \/ 0 \(75% used\)/);
      assert.match(v.tooltip, /expert bytes copied \| 1\.0 MiB in 1\.0 ms, 1\.0 GB\/s/);
      assert.doesNotMatch(v.tooltip, /compute waiting/);
      const bare = statusOf({ cache: { hits: 1, misses: 1, slots: [[0]] } }, 'cuda').counters;
      assert.deepEqual(bare?.cache, { hits: 1, misses: 1, slots: [[0]] });
      assert.deepEqual(engineCounterRows({ ...counters, cache: bare?.cache }), [
        '| expert cache hits / misses | 1 / 1 |',
      ]);
    });

    it('an older addon (no such counters) and malformed ones add nothing', () => {
      const older = statusOf({}, 'cuda').counters;
      assert.ok(older);
      assert.equal(older.cache, undefined);
      assert.equal(older.vram, undefined);
      assert.equal(older.expertCacheHitRate, null);
      assert.equal(older.vramBudgetBytes, 0);
      const bad = statusOf(
        {
          cache: { ...cache, hits: 'many' } as unknown as EngineCounters['cache'],
          vram: { dense: 1 } as unknown as EngineCounters['vram'],
          reusedPromptTokens: -1,
        },
        'cuda',
      ).counters;
      assert.ok(bad);
      assert.equal(bad.cache, undefined);
      assert.equal(bad.vram, undefined);
      assert.equal(bad.reusedPromptTokens, undefined);
    });

    it('a cache with no lookups yet is not called "no cache"', () => {
      const v = renderStatus({
        state: running,
        status: statusOf({ cache: { ...cache, hits: 0, misses: 0 }, vram }, 'cuda'),
        completionsEnabled: true,
      });
      assert.doesNotMatch(v.text, /cache hit/);
      assert.match(v.tooltip, /expert cache hit rate \| – \(no lookups yet\)/);
    });
  });
});
