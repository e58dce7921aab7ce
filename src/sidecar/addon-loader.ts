// Finds and loads the native addon (localmoe.node). Next to the bundle in a build
// (dist/sidecar.js -> dist/native/localmoe.node); LOCALMOE_ADDON overrides it for development.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import type { AddonModule } from './addon-types';

export const ADDON_PATH_ENV = 'LOCALMOE_ADDON';

export function addonPath(env: NodeJS.ProcessEnv = process.env): string {
  const override = env[ADDON_PATH_ENV];
  return override ? path.resolve(override) : path.join(__dirname, 'native', 'localmoe.node');
}

/** Loads the addon; the error names the path and the fix (it is the usual first-run failure). */
export function loadAddon(file: string = addonPath()): AddonModule {
  if (!existsSync(file)) {
    throw new Error(
      `LocalMoE native addon not found at ${file}: build it with "npm run build:native"` +
        ` (or set ${ADDON_PATH_ENV} to a built localmoe.node)`,
    );
  }
  try {
    // createRequire keeps the bundler from trying to bundle a binary.
    return createRequire(__filename)(file) as AddonModule;
  } catch (err) {
    throw new Error(
      `LocalMoE native addon at ${file} failed to load (${(err as Error).message}): ` +
        'rebuild it for this platform with "npm run build:native"',
    );
  }
}
