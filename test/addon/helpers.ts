// Shared by the addon tests: the addon under test and small utilities.
import type { AddonModule, NativeEngine } from '../../src/sidecar/addon-types';
import { loadAddon } from '../../src/sidecar/addon-loader';
import { addonFile } from '../sidecar/helpers/repo';

let cached: AddonModule | undefined;

/** The built addon (dist/native/localmoe.node or LOCALMOE_ADDON), loaded once. */
export function addon(): AddonModule {
  cached ??= loadAddon(addonFile());
  return cached;
}

/** Runs generate() and records every onToken call. */
export async function generateRecorded(
  engine: NativeEngine,
  options: Parameters<NativeEngine['generate']>[0],
  onEach?: (token: number, index: number) => void,
) {
  const streamed: number[] = [];
  const result = await engine.generate(options, (t) => {
    streamed.push(t);
    onEach?.(t, streamed.length - 1);
  });
  return { result, streamed };
}
