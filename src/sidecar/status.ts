// Builds `localmoe/status` payloads from the engine's own counters. Pure. Counters that newer addon
// builds add (cache, vram, KV reuse) are forwarded only when present and well-formed: an older addon
// lacks them, and the status bar then shows nothing for them rather than a made-up figure.
import type {
  CacheCounters,
  EngineHealth,
  EngineStatus,
  GenerationResult,
  ModelSummary,
  StatusCounters,
  VramCounters,
} from '../protocol';
import type { EngineCounters, ModelInfo } from './addon-types';

export interface LastRun {
  ttftMs: number;
  tokensPerSecond: number;
}

export interface StatusSource {
  info: ModelInfo;
  counters: EngineCounters;
  last: LastRun | undefined;
}

export function lastRunOf(result: GenerationResult): LastRun | undefined {
  // A dropped request never reached the engine: it says nothing about speed.
  return result.completionTokens > 0
    ? { ttftMs: result.ttftMs, tokensPerSecond: result.tokensPerSecond }
    : undefined;
}

export function buildStatus(
  health: EngineHealth,
  message: string,
  model?: ModelSummary,
  source?: StatusSource,
): EngineStatus {
  const status: EngineStatus = { health, message };
  if (model) status.model = model;
  if (source) {
    status.counters = {
      promptTokens: source.counters.promptTokens,
      generatedTokens: source.counters.generatedTokens,
      lastTokensPerSecond: source.last?.tokensPerSecond ?? 0,
      lastTtftMs: source.last?.ttftMs ?? 0,
      memoryBytes: source.info.memoryBytes,
      vramUsedBytes: 0,
      vramBudgetBytes: 0,
      expertCacheHitRate: null,
      expertUsage: source.counters.expertUsage,
    };
    forwardEngineCounters(status.counters, source.counters);
  }
  return status;
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

const CACHE_REQUIRED = ['hits', 'misses'] as const;
const CACHE_OPTIONAL = [
  'cpuComputed',
  'prefetchIssued',
  'prefetchUsed',
  'prefetchWasted',
  'bytesCopied',
  'copyMs',
  'computeWaitMs',
] as const;
const VRAM_FIELDS = ['dense', 'experts', 'kvCache', 'workspace', 'budget'] as const;

/**
 * The addon's cache counters, or undefined when absent or malformed. hits, misses and slots are
 * required; each other counter is copied only when the addon reports it as a count.
 */
export function cacheCountersOf(raw: unknown): CacheCounters | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const r = raw as Record<string, unknown>;
  if (!CACHE_REQUIRED.every((k) => isCount(r[k]))) return undefined;
  const slots = r.slots;
  if (
    !Array.isArray(slots) ||
    !slots.every((l) => Array.isArray(l) && l.every((e) => Number.isInteger(e)))
  )
    return undefined;
  const out: CacheCounters = {
    hits: r.hits as number,
    misses: r.misses as number,
    slots: (slots as number[][]).map((l) => [...l]),
  };
  for (const k of CACHE_OPTIONAL) if (isCount(r[k])) out[k] = r[k];
  return out;
}

/** The addon's VRAM counters, or undefined when absent or malformed. */
export function vramCountersOf(raw: unknown): VramCounters | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const r = raw as Record<string, unknown>;
  if (!VRAM_FIELDS.every((k) => isCount(r[k]))) return undefined;
  return Object.fromEntries(VRAM_FIELDS.map((k) => [k, r[k] as number])) as unknown as VramCounters;
}

/**
 * Copies the optional counters of newer addons into the status, and fills the summary fields the
 * status bar has always read (VRAM used/budget, hit rate) from them: sums and ratios of the
 * engine's own counts, nothing estimated. Without them the summary fields stay 0 / null.
 */
export function forwardEngineCounters(out: StatusCounters, c: EngineCounters): void {
  const cache = cacheCountersOf(c.cache);
  const vram = vramCountersOf(c.vram);
  if (cache) {
    out.cache = cache;
    const lookups = cache.hits + cache.misses;
    if (lookups > 0) out.expertCacheHitRate = cache.hits / lookups;
  }
  if (vram) {
    out.vram = vram;
    out.vramUsedBytes = vram.dense + vram.experts + vram.kvCache + vram.workspace;
    out.vramBudgetBytes = vram.budget;
  }
  if (isCount(c.reusedPromptTokens)) out.reusedPromptTokens = c.reusedPromptTokens;
  if (isCount(c.kvSlotEvictions)) out.kvSlotEvictions = c.kvSlotEvictions;
}

export function modelSummary(dir: string, name: string, info: ModelInfo): ModelSummary {
  return {
    path: dir,
    name,
    architecture: info.architecture,
    numLayers: info.numLayers,
    numExperts: info.numExperts,
    expertsPerToken: info.expertsPerToken,
    vocabSize: info.vocabSize,
    weightDtype: info.weightDtype,
    device: info.device,
  };
}
