// Settings → the sidecar's initialize parameters. Pure, so what the engine is told is unit-tested.
import { PROTOCOL_VERSION, type InitializeParams } from '../protocol';
import { parseByteSize, type LocalMoeConfig } from './schema';

export function initializeParams(config: LocalMoeConfig): InitializeParams {
  const budget = parseByteSize(config.vramBudget);
  return {
    protocolVersion: PROTOCOL_VERSION,
    modelPath: config.modelPath,
    device: config.device,
    threads: config.threads,
    maxContext: config.maxContext,
    offload: {
      vramBudgetBytes: typeof budget === 'number' ? budget : 0,
      cachePolicy: config.cachePolicy,
      speculativeLoading: config.speculativeLoading,
    },
  };
}
