// What the Quantize Model… command offers and where it writes by default. Pure (no `vscode`, no
// fs): unit-tested in test/unit/quantize-plan.test.ts. Preset facts mirror native/quant/presets.h
// and native/quant/README.md (bits/weight of the experts, which are ~96% of Mixtral's weights).
import * as path from 'node:path';
import type { QuantizePreset } from '../protocol';

export interface PresetChoice {
  id: QuantizePreset;
  /** One line for the quick pick. */
  description: string;
  /** Effective bits per expert weight, scales and zeros included. */
  expertBitsPerWeight: number;
}

/** In the order native/quant/presets.h lists them; attention is 4-bit g64 in all of them. */
export const QUANTIZE_PRESETS: readonly PresetChoice[] = [
  {
    id: 'paper-2bit',
    description:
      'experts 2-bit g16 (3.03 bits/weight), attention 4-bit: the paper’s default, smallest good quality',
    expertBitsPerWeight: 3.03,
  },
  {
    id: 'paper-3bit',
    description:
      'experts 3-bit g64 (3.26 bits/weight), attention 4-bit: better quality, slightly larger',
    expertBitsPerWeight: 3.26,
  },
  {
    id: '4bit',
    description:
      'experts 4-bit g64 (4.25 bits/weight), attention 4-bit: closest to 16-bit, largest',
    expertBitsPerWeight: 4.25,
  },
  {
    id: '2bit-g64',
    description: 'experts 2-bit g64 (2.26 bits/weight), attention 4-bit: smallest, lowest quality',
    expertBitsPerWeight: 2.26,
  },
];

export function isQuantizePreset(id: string): id is QuantizePreset {
  return QUANTIZE_PRESETS.some((p) => p.id === id);
}

/**
 * Default output: a sibling of the input named `<name>-<preset>` ("Mixtral-8x7B" →
 * "Mixtral-8x7B-paper-2bit"); a trailing separator on the input is ignored.
 */
export function defaultOutputDir(modelDir: string, preset: QuantizePreset): string {
  const dir = path.resolve(modelDir);
  return path.join(path.dirname(dir), `${path.basename(dir)}-${preset}`);
}

/** Why an output folder cannot be used, or undefined. `exists` is the caller's fs check. */
export function outputProblem(
  modelDir: string,
  outDir: string,
  exists: boolean,
): string | undefined {
  const a = path.resolve(modelDir);
  const b = path.resolve(outDir);
  if (a === b) return 'the output folder must differ from the input model folder';
  if (b.startsWith(a + path.sep))
    return 'the output folder must not be inside the input model folder';
  if (exists) return `${b} already exists: choose a new folder name or delete it first`;
  return undefined;
}

/** "12.3 MB of 45.6 MB, 40 of 97 tensors, about 2 min left" for the progress notification. */
export function formatQuantizeProgress(p: {
  tensorsDone: number;
  tensorsTotal: number;
  bytesInDone: number;
  bytesInTotal: number;
  etaS: number | null;
}): string {
  const parts = [
    `${p.tensorsDone}/${p.tensorsTotal} tensors`,
    `${formatBytes(p.bytesInDone)} of ${formatBytes(p.bytesInTotal)}`,
  ];
  if (p.etaS !== null && p.tensorsDone < p.tensorsTotal)
    parts.push(`about ${formatDuration(p.etaS)} left`);
  return parts.join(', ');
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
