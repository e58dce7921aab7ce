// Which model folder to load: the client's choice, else LOCALMOE_MODEL, else the embedded model
// shipped next to the bundle (dist/sidecar.js -> models/localmoe-code-tiny).
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';

export const MODEL_PATH_ENV = 'LOCALMOE_MODEL';
export const EMBEDDED_MODEL = 'localmoe-code-tiny';

export function resolveModelPath(
  requested: string,
  env: NodeJS.ProcessEnv = process.env,
  baseDir: string = __dirname,
): string {
  if (requested.trim()) return path.resolve(requested);
  if (env[MODEL_PATH_ENV]) return path.resolve(env[MODEL_PATH_ENV]);
  return path.join(baseDir, '..', 'models', EMBEDDED_MODEL);
}

/** Fails early, before the engine starts, for the two mistakes users make most. */
export function checkModelFolder(dir: string): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new Error(
      `model folder not found: ${dir}: choose a Hugging Face model folder (Select Model) or clear the model path setting`,
    );
  }
  if (!existsSync(path.join(dir, 'config.json'))) {
    throw new Error(`config.json not found in ${dir}: choose a Hugging Face model folder`);
  }
}
