// The typed view of the `localmoe.*` settings: one interface, its defaults, the settings that need a
// sidecar restart, and the parsing/validation shared by the settings reader and its tests.
// package.json "contributes.configuration" declares the same keys and defaults for the Settings UI;
// test/unit/config.test.ts fails when the two drift apart (the one-schema rule of STYLE 1.3).

export type Device = 'auto' | 'cpu' | 'cuda';
export type CachePolicy = 'lru' | 'lfu';
/** When inline completions may span several lines. */
export type MultilinePolicy = 'auto' | 'always' | 'never';

export interface LocalMoeConfig {
  modelPath: string;
  device: Device;
  /** "auto" or a byte size such as "12GiB"; CUDA backend only. */
  vramBudget: string;
  cachePolicy: CachePolicy;
  speculativeLoading: boolean;
  threads: number;
  maxContext: number;
  completion: {
    enabled: boolean;
    /** languageId → enabled; "*" is the default for languages not listed. */
    languages: Record<string, boolean>;
    maxTokens: number;
    debounceMs: number;
    timeBudgetMs: number;
    multiline: MultilinePolicy;
    maxPrefixChars: number;
    maxSuffixChars: number;
  };
  chat: {
    maxTokens: number;
    temperature: number;
  };
  /** The sidecar's OpenAI-compatible endpoint on 127.0.0.1 (localmoe/serve); applied live. */
  server: {
    enabled: boolean;
    port: number;
  };
  /** Remote engine mode: completions and chat from an OpenAI-compatible server; applied live. */
  remote: {
    /** Empty = the local engine. */
    url: string;
    /** Empty = the server's first model. */
    model: string;
  };
}

export const DEFAULT_CONFIG: LocalMoeConfig = {
  modelPath: '',
  device: 'auto',
  vramBudget: 'auto',
  cachePolicy: 'lru',
  speculativeLoading: true,
  threads: 0,
  maxContext: 4096,
  completion: {
    enabled: true,
    languages: { '*': true, plaintext: false, markdown: false, scminput: false },
    maxTokens: 64,
    debounceMs: 150,
    timeBudgetMs: 3000,
    multiline: 'auto',
    maxPrefixChars: 4000,
    maxSuffixChars: 1000,
  },
  chat: {
    maxTokens: 1024,
    temperature: 0.2,
  },
  server: {
    enabled: false,
    port: 8808,
  },
  remote: {
    url: '',
    model: '',
  },
};

/** Settings (without the `localmoe.` prefix) whose change only takes effect after a sidecar restart. */
export const RESTART_REQUIRED_KEYS: readonly string[] = [
  'modelPath',
  'device',
  'vramBudget',
  'cachePolicy',
  'speculativeLoading',
  'threads',
  'maxContext',
];

/** Same text as package.json's `pattern` for localmoe.vramBudget. */
export const VRAM_BUDGET_PATTERN = '^(auto|[0-9]+(\\.[0-9]+)?\\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB))$';

const UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KiB: 2 ** 10,
  MiB: 2 ** 20,
  GiB: 2 ** 30,
  TiB: 2 ** 40,
};

/**
 * Parses a vramBudget value. Returns 0 for "auto" (the engine picks), a byte count for a size,
 * or an error string naming the accepted forms.
 */
export function parseByteSize(value: string): number | { error: string } {
  const v = value.trim();
  if (v === 'auto') return 0;
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/.exec(v);
  if (!m)
    return { error: `"${value}" is not a size: use "auto" or a number with a unit, e.g. "12GiB"` };
  return Math.round(Number(m[1]) * UNITS[m[2]]);
}

/** Whether inline completion is on for a language: the global switch, then the language, then "*". */
export function completionEnabledFor(
  config: LocalMoeConfig['completion'],
  languageId: string,
): boolean {
  if (!config.enabled) return false;
  const own = config.languages[languageId];
  if (typeof own === 'boolean') return own;
  return config.languages['*'] !== false;
}

/** Names of settings (with prefix) that differ between two configs and need a restart. */
export function restartRequiredChanges(before: LocalMoeConfig, after: LocalMoeConfig): string[] {
  const b = before as unknown as Record<string, unknown>;
  const a = after as unknown as Record<string, unknown>;
  return RESTART_REQUIRED_KEYS.filter((k) => b[k] !== a[k]).map((k) => `localmoe.${k}`);
}

function clampInt(value: unknown, fallback: number, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return fallback;
  return Math.min(max, Math.max(min, Math.round(value)));
}

function clampNum(value: unknown, fallback: number, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return fallback;
  return Math.min(max, Math.max(min, value));
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], fallback: T): T {
  return allowed.includes(value as T) ? (value as T) : fallback;
}

function boolOr(value: unknown, fallback: boolean): boolean {
  return typeof value === 'boolean' ? value : fallback;
}

/**
 * Builds a valid config from raw setting values (as read from settings.json, which the Settings UI
 * validates but a hand-edited file does not). Invalid values fall back to defaults and are reported
 * in `problems` so the caller can log them.
 */
export function normalizeConfig(get: (key: string) => unknown): {
  config: LocalMoeConfig;
  problems: string[];
} {
  const d = DEFAULT_CONFIG;
  const problems: string[] = [];
  const modelPath = typeof get('modelPath') === 'string' ? (get('modelPath') as string).trim() : '';
  let vramBudget =
    typeof get('vramBudget') === 'string' ? (get('vramBudget') as string) : d.vramBudget;
  const parsed = parseByteSize(vramBudget);
  if (typeof parsed !== 'number') {
    problems.push(`localmoe.vramBudget: ${parsed.error}; using "auto"`);
    vramBudget = 'auto';
  }
  const rawLanguages = get('completion.languages');
  const languages: Record<string, boolean> = { ...d.completion.languages };
  if (rawLanguages && typeof rawLanguages === 'object') {
    for (const [k, v] of Object.entries(rawLanguages as Record<string, unknown>)) {
      if (typeof v === 'boolean') languages[k] = v;
      else problems.push(`localmoe.completion.languages.${k}: expected true or false`);
    }
  }
  const config: LocalMoeConfig = {
    modelPath,
    device: oneOf(get('device'), ['auto', 'cpu', 'cuda'] as const, d.device),
    vramBudget,
    cachePolicy: oneOf(get('cachePolicy'), ['lru', 'lfu'] as const, d.cachePolicy),
    speculativeLoading: boolOr(get('speculativeLoading'), d.speculativeLoading),
    threads: clampInt(get('threads'), d.threads, 0, 1024),
    maxContext: clampInt(get('maxContext'), d.maxContext, 256, 131072),
    completion: {
      enabled: boolOr(get('completion.enabled'), d.completion.enabled),
      languages,
      maxTokens: clampInt(get('completion.maxTokens'), d.completion.maxTokens, 1, 1024),
      debounceMs: clampInt(get('completion.debounceMs'), d.completion.debounceMs, 0, 5000),
      timeBudgetMs: clampInt(get('completion.timeBudgetMs'), d.completion.timeBudgetMs, 100, 60000),
      multiline: oneOf(
        get('completion.multiline'),
        ['auto', 'always', 'never'] as const,
        d.completion.multiline,
      ),
      maxPrefixChars: clampInt(
        get('completion.maxPrefixChars'),
        d.completion.maxPrefixChars,
        256,
        100000,
      ),
      maxSuffixChars: clampInt(
        get('completion.maxSuffixChars'),
        d.completion.maxSuffixChars,
        0,
        50000,
      ),
    },
    chat: {
      maxTokens: clampInt(get('chat.maxTokens'), d.chat.maxTokens, 1, 32768),
      temperature: clampNum(get('chat.temperature'), d.chat.temperature, 0, 2),
    },
    server: {
      enabled: boolOr(get('server.enabled'), d.server.enabled),
      // 0 = any free port (the endpoint reports which); privileged ports are not for a user tool.
      port: clampInt(get('server.port'), d.server.port, 0, 65535),
    },
    remote: {
      url: typeof get('remote.url') === 'string' ? (get('remote.url') as string).trim() : '',
      model: typeof get('remote.model') === 'string' ? (get('remote.model') as string).trim() : '',
    },
  };
  return { config, problems };
}

/** One line per setting, for the "effective configuration" log entry. */
export function describeConfig(config: LocalMoeConfig): string {
  const lines: string[] = [];
  const walk = (obj: Record<string, unknown>, prefix: string): void => {
    for (const [k, v] of Object.entries(obj)) {
      const key = `${prefix}${k}`;
      if (
        v &&
        typeof v === 'object' &&
        !Array.isArray(v) &&
        key !== 'localmoe.completion.languages'
      ) {
        walk(v as Record<string, unknown>, `${key}.`);
      } else {
        lines.push(`${key} = ${JSON.stringify(v)}`);
      }
    }
  };
  walk(config as unknown as Record<string, unknown>, 'localmoe.');
  return lines.join('\n');
}
