// The benchmark report written by `moe bench --out FILE.json` (schema "localmoe.bench/1", produced
// by native/tools/moe_bench.cpp): its types and a validating parser. Pure and browser-safe (no Node
// imports): the extension parses files with it and the webview (webview/bench/) renders the result.
// Unknown extra fields are accepted (newer CLIs add some); a wrong or missing schema is rejected with
// a message that says what the file is instead. Absent optional figures become null.

export const BENCH_SCHEMA = 'localmoe.bench/1';

/** Figures of one timed run; a variant's top-level figures are the medians over its runs. */
export interface BenchFigures {
  prefill_tok_s: number | null;
  ttft_ms: number | null;
  decode_tok_s: number | null;
}

export interface BenchCacheFigures {
  hit_rate: number | null;
  prefetch_precision: number | null;
  prefetch_recall: number | null;
  copy_gbps: number | null;
  copy_fraction_of_peak: number | null;
  misses_per_token: number | null;
  transfer_bound_tok_s: number | null;
  cpu_computed_per_token: number | null;
}

export interface BenchVariant extends BenchFigures {
  /** Stable id: "cpu", "naive", "lru", "lru+prefetch", "all-resident", "hybrid", ... */
  name: string;
  /** Human label; the name when the file has none. */
  label: string;
  runs: BenchFigures[];
  cache: BenchCacheFigures;
  memory: { vram_bytes: number | null; host_bytes: number | null };
}

export interface BenchReport {
  schema: typeof BENCH_SCHEMA;
  /** ISO 8601 time the run finished. */
  created: string;
  /** The full command line that produced the file. */
  command: string;
  machine: {
    cpu: string | null;
    cpu_threads: number | null;
    host_ram_bytes: number | null;
    gpu: string | null;
    gpu_memory_bytes: number | null;
  };
  model: {
    dir: string | null;
    name: string;
    weights: string | null;
    layers: number | null;
    experts: number | null;
    experts_per_token: number | null;
    expert_bytes: number | null;
  };
  settings: {
    device: string;
    backend: string | null;
    prompt_len: number | null;
    gen: number | null;
    repeat: number | null;
    vram_budget_bytes: number | null;
    threads: number | null;
    /** Expert-cache policy and speculative loading (CUDA runs), when the CLI reports them. */
    policy: string | null;
    lookahead: number | null;
    guesses: number | null;
  };
  peak: { h2d_gbps: number | null; host_read_gbps: number | null };
  variants: BenchVariant[];
  /** Variants the CLI could not run and why (e.g. all-resident when the model does not fit). */
  notes: string[];
}

export type BenchParse = { ok: true; report: BenchReport } | { ok: false; error: string };

class Invalid extends Error {}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function obj(parent: Obj, key: string, where: string, required: boolean): Obj {
  const v = parent[key];
  if (v === undefined && !required) return {};
  if (!isObj(v)) throw new Invalid(`${where}${key}: expected an object`);
  return v;
}

/** A number or null; absent = null; anything else (string, NaN, Infinity in a hand edit) rejects. */
function num(o: Obj, key: string, where: string, required = false): number | null {
  const v = o[key];
  if (v === undefined && !required) return null;
  if (v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new Invalid(`${where}${key}: expected a number or null, found ${JSON.stringify(v)}`);
  return v;
}

function str(o: Obj, key: string, where: string, required = false): string | null {
  const v = o[key];
  if ((v === undefined || v === null) && !required) return null;
  if (typeof v !== 'string') throw new Invalid(`${where}${key}: expected a string`);
  return v;
}

function figures(o: Obj, where: string, required: boolean): BenchFigures {
  return {
    prefill_tok_s: num(o, 'prefill_tok_s', where, required),
    ttft_ms: num(o, 'ttft_ms', where, required),
    decode_tok_s: num(o, 'decode_tok_s', where, required),
  };
}

function variant(raw: unknown, i: number): BenchVariant {
  const where = `variants[${i}].`;
  if (!isObj(raw)) throw new Invalid(`variants[${i}]: expected an object`);
  const name = str(raw, 'name', where, true) as string;
  const runsRaw = raw.runs ?? [];
  if (!Array.isArray(runsRaw)) throw new Invalid(`${where}runs: expected an array`);
  const cache = obj(raw, 'cache', where, false);
  const cw = `${where}cache.`;
  const memory = obj(raw, 'memory', where, false);
  const mw = `${where}memory.`;
  return {
    name,
    label: str(raw, 'label', where) ?? name,
    ...figures(raw, where, true),
    runs: runsRaw.map((r, j) => {
      if (!isObj(r)) throw new Invalid(`${where}runs[${j}]: expected an object`);
      return figures(r, `${where}runs[${j}].`, false);
    }),
    cache: {
      hit_rate: num(cache, 'hit_rate', cw),
      prefetch_precision: num(cache, 'prefetch_precision', cw),
      prefetch_recall: num(cache, 'prefetch_recall', cw),
      copy_gbps: num(cache, 'copy_gbps', cw),
      copy_fraction_of_peak: num(cache, 'copy_fraction_of_peak', cw),
      misses_per_token: num(cache, 'misses_per_token', cw),
      transfer_bound_tok_s: num(cache, 'transfer_bound_tok_s', cw),
      cpu_computed_per_token: num(cache, 'cpu_computed_per_token', cw),
    },
    memory: {
      vram_bytes: num(memory, 'vram_bytes', mw),
      host_bytes: num(memory, 'host_bytes', mw),
    },
  };
}

/** Validates a parsed JSON value; returns a normalised copy (unknown fields dropped). */
export function validateBenchReport(raw: unknown): BenchParse {
  try {
    if (!isObj(raw)) throw new Invalid('the file does not hold a JSON object');
    if (raw.schema !== BENCH_SCHEMA) {
      throw new Invalid(
        raw.schema === undefined
          ? `it has no "schema" field (expected "${BENCH_SCHEMA}"): not a LocalMoE benchmark result`
          : `its schema is ${JSON.stringify(raw.schema)}, this version reads "${BENCH_SCHEMA}"`,
      );
    }
    const machine = obj(raw, 'machine', '', false);
    const model = obj(raw, 'model', '', true);
    const settings = obj(raw, 'settings', '', true);
    const peak = obj(raw, 'peak', '', false);
    if (!Array.isArray(raw.variants)) throw new Invalid('variants: expected an array');
    const report: BenchReport = {
      schema: BENCH_SCHEMA,
      created: str(raw, 'created', '', true) as string,
      command: str(raw, 'command', '') ?? '',
      machine: {
        cpu: str(machine, 'cpu', 'machine.'),
        cpu_threads: num(machine, 'cpu_threads', 'machine.'),
        host_ram_bytes: num(machine, 'host_ram_bytes', 'machine.'),
        gpu: str(machine, 'gpu', 'machine.'),
        gpu_memory_bytes: num(machine, 'gpu_memory_bytes', 'machine.'),
      },
      model: {
        dir: str(model, 'dir', 'model.'),
        name: str(model, 'name', 'model.', true) as string,
        weights: str(model, 'weights', 'model.'),
        layers: num(model, 'layers', 'model.'),
        experts: num(model, 'experts', 'model.'),
        experts_per_token: num(model, 'experts_per_token', 'model.'),
        expert_bytes: num(model, 'expert_bytes', 'model.'),
      },
      settings: {
        device: str(settings, 'device', 'settings.', true) as string,
        backend: str(settings, 'backend', 'settings.'),
        prompt_len: num(settings, 'prompt_len', 'settings.'),
        gen: num(settings, 'gen', 'settings.'),
        repeat: num(settings, 'repeat', 'settings.'),
        vram_budget_bytes: num(settings, 'vram_budget_bytes', 'settings.'),
        threads: num(settings, 'threads', 'settings.'),
        policy: str(settings, 'policy', 'settings.'),
        lookahead: num(settings, 'lookahead', 'settings.'),
        guesses: num(settings, 'guesses', 'settings.'),
      },
      peak: {
        h2d_gbps: num(peak, 'h2d_gbps', 'peak.'),
        host_read_gbps: num(peak, 'host_read_gbps', 'peak.'),
      },
      variants: raw.variants.map(variant),
      notes: Array.isArray(raw.notes)
        ? raw.notes.filter((n): n is string => typeof n === 'string')
        : [],
    };
    return { ok: true, report };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, error: e.message };
    throw e;
  }
}

/** Parses the text of a result file: JSON errors and schema errors both come back as `error`. */
export function parseBenchReport(text: string): BenchParse {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { ok: false, error: `it is not valid JSON (${(e as Error).message})` };
  }
  return validateBenchReport(raw);
}
