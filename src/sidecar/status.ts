// Builds `localmoe/status` payloads from the engine's own counters. Pure.
import type { EngineHealth, EngineStatus, GenerationResult, ModelSummary } from '../protocol';
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
      // The engine exposes no VRAM or expert-cache counters yet (CPU backend, all experts resident).
      vramUsedBytes: 0,
      vramBudgetBytes: 0,
      expertCacheHitRate: null,
      expertUsage: source.counters.expertUsage,
    };
  }
  return status;
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
