// The optional argument of `localmoe.quantizeModel`: lets tests and other extensions skip the
// pickers (any field left out is asked for). Pure: validated here, unit-tested.
import type { QuantizePreset } from '../protocol';
import { isQuantizePreset } from './presets';

export interface QuantizeCommandArgs {
  modelDir?: string;
  preset?: QuantizePreset;
  outDir?: string;
  /** true: set localmoe.modelPath to the result without asking; false: never offer it. */
  useResult?: boolean;
  threads?: number;
}

/** Parses the command argument; throws an Error naming the bad field. */
export function parseQuantizeArgs(raw: unknown): QuantizeCommandArgs {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new Error('localmoe.quantizeModel: the argument must be an object');
  const r = raw as Record<string, unknown>;
  const args: QuantizeCommandArgs = {};
  for (const key of ['modelDir', 'outDir'] as const) {
    const v = r[key];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v === '')
      throw new Error(`localmoe.quantizeModel: ${key} must be a non-empty string`);
    args[key] = v;
  }
  if (r.preset !== undefined) {
    if (typeof r.preset !== 'string' || !isQuantizePreset(r.preset))
      throw new Error(`localmoe.quantizeModel: unknown preset ${JSON.stringify(r.preset)}`);
    args.preset = r.preset;
  }
  if (r.useResult !== undefined) {
    if (typeof r.useResult !== 'boolean')
      throw new Error('localmoe.quantizeModel: useResult must be a boolean');
    args.useResult = r.useResult;
  }
  if (r.threads !== undefined) {
    if (typeof r.threads !== 'number' || !Number.isInteger(r.threads) || r.threads < 0)
      throw new Error('localmoe.quantizeModel: threads must be an integer >= 0');
    args.threads = r.threads;
  }
  return args;
}
