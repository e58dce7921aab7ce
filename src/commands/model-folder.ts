// Checks that a folder looks like a model the engine can load, before it is written to the
// settings. Node only (no `vscode`), unit-tested with temporary folders. Messages name the fix.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export type ModelFolderCheck =
  { ok: true; name: string; warnings: string[] } | { ok: false; message: string };

export async function checkModelFolder(dir: string): Promise<ModelFolderCheck> {
  const configPath = path.join(dir, 'config.json');
  let raw: string;
  try {
    raw = await fs.readFile(configPath, 'utf8');
  } catch {
    return {
      ok: false,
      message: `config.json not found in ${dir}: choose a Hugging Face model folder`,
    };
  }
  let config: unknown;
  try {
    config = JSON.parse(raw);
  } catch (e) {
    return {
      ok: false,
      message: `${configPath} is not valid JSON (${(e as Error).message}): the download may be incomplete`,
    };
  }
  if (!config || typeof config !== 'object') {
    return {
      ok: false,
      message: `${configPath} does not hold a JSON object: choose a Hugging Face model folder`,
    };
  }
  const c = config as Record<string, unknown>;
  const warnings: string[] = [];
  const archs = Array.isArray(c.architectures)
    ? c.architectures.filter((a): a is string => typeof a === 'string')
    : [];
  if (!archs.length && typeof c.model_type !== 'string') {
    warnings.push('config.json names no architecture (architectures / model_type)');
  }
  if (typeof c.num_local_experts !== 'number') {
    warnings.push(
      'config.json has no num_local_experts: this does not look like a Mixture-of-Experts model',
    );
  }
  const files = await fs.readdir(dir);
  if (!files.some((f) => f.endsWith('.safetensors')))
    warnings.push('no *.safetensors weight files in the folder');
  if (!files.includes('tokenizer.json')) warnings.push('no tokenizer.json in the folder');
  return {
    ok: true,
    name: archs[0] ?? (typeof c.model_type === 'string' ? c.model_type : path.basename(dir)),
    warnings,
  };
}
