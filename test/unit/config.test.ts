import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initializeParams } from '../../src/config/engine-params';
import {
  DEFAULT_CONFIG,
  RESTART_REQUIRED_KEYS,
  VRAM_BUDGET_PATTERN,
  completionEnabledFor,
  describeConfig,
  normalizeConfig,
  parseByteSize,
  restartRequiredChanges,
} from '../../src/config/schema';
import { repoRoot } from './helpers';

interface PropertySchema {
  default?: unknown;
  pattern?: string;
  description?: string;
  markdownDescription?: string;
}

function declaredSettings(): Record<string, PropertySchema> {
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'package.json'), 'utf8'));
  return pkg.contributes.configuration.properties;
}

function flatten(obj: Record<string, unknown>, prefix = 'localmoe.'): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix + k;
    if (
      v &&
      typeof v === 'object' &&
      !Array.isArray(v) &&
      key !== 'localmoe.completion.languages'
    ) {
      Object.assign(out, flatten(v as Record<string, unknown>, `${key}.`));
    } else out[key] = v;
  }
  return out;
}

describe('config schema', () => {
  it('package.json declares exactly the typed settings, with the same defaults', () => {
    const declared = declaredSettings();
    const typed = flatten(DEFAULT_CONFIG as unknown as Record<string, unknown>);
    assert.deepEqual(Object.keys(declared).sort(), Object.keys(typed).sort());
    for (const [key, value] of Object.entries(typed))
      assert.deepEqual(declared[key].default, value, key);
  });

  it('every setting has a description; CUDA-only settings say so', () => {
    const declared = declaredSettings();
    for (const [key, schema] of Object.entries(declared)) {
      assert.ok(schema.description || schema.markdownDescription, `${key} has no description`);
    }
    for (const key of [
      'localmoe.vramBudget',
      'localmoe.cachePolicy',
      'localmoe.speculativeLoading',
    ]) {
      assert.match(declared[key].markdownDescription ?? '', /CUDA backend only/, key);
    }
  });

  it('restart-requiring settings say so in their description', () => {
    const declared = declaredSettings();
    for (const k of RESTART_REQUIRED_KEYS) {
      const d = declared[`localmoe.${k}`];
      assert.match(d.description ?? d.markdownDescription ?? '', /restart/i, k);
    }
  });

  it('the vramBudget pattern in package.json is the one the code uses', () => {
    assert.equal(declaredSettings()['localmoe.vramBudget'].pattern, VRAM_BUDGET_PATTERN);
    const re = new RegExp(VRAM_BUDGET_PATTERN);
    for (const ok of ['auto', '12GiB', '1.5 GB', '512MiB']) assert.ok(re.test(ok), ok);
    for (const bad of ['', '12', 'lots', '12 gib', '-1GiB']) assert.ok(!re.test(bad), bad);
  });

  it('parses byte sizes', () => {
    assert.equal(parseByteSize('auto'), 0);
    assert.equal(parseByteSize('12GiB'), 12 * 2 ** 30);
    assert.equal(parseByteSize('1.5 GB'), 1.5e9);
    assert.equal(parseByteSize(' 100B '), 100);
    const bad = parseByteSize('twelve');
    assert.ok(typeof bad === 'object' && /12GiB/.test(bad.error));
  });

  it('falls back to defaults on invalid values and reports them', () => {
    const raw: Record<string, unknown> = {
      device: 'tpu',
      vramBudget: 'much',
      threads: -3,
      'completion.maxTokens': 1e9,
      'completion.languages': { python: false, go: 'yes' },
      'chat.temperature': 'hot',
    };
    const { config, problems } = normalizeConfig((k) => raw[k]);
    assert.equal(config.device, 'auto');
    assert.equal(config.vramBudget, 'auto');
    assert.equal(config.threads, 0);
    assert.equal(config.completion.maxTokens, 1024);
    assert.equal(config.completion.languages.python, false);
    assert.equal(config.completion.languages.go, undefined);
    assert.equal(config.chat.temperature, DEFAULT_CONFIG.chat.temperature);
    assert.equal(problems.length, 2);
  });

  it('enables completion per language with "*" as the fallback', () => {
    const c = { ...DEFAULT_CONFIG.completion, languages: { '*': false, python: true } };
    assert.equal(completionEnabledFor(c, 'python'), true);
    assert.equal(completionEnabledFor(c, 'go'), false);
    assert.equal(completionEnabledFor({ ...c, enabled: false }, 'python'), false);
    assert.equal(completionEnabledFor(DEFAULT_CONFIG.completion, 'markdown'), false);
    assert.equal(completionEnabledFor(DEFAULT_CONFIG.completion, 'typescript'), true);
  });

  it('names the changed settings that need a restart, and only those', () => {
    const a = DEFAULT_CONFIG;
    const b = { ...a, device: 'cpu' as const, completion: { ...a.completion, maxTokens: 5 } };
    assert.deepEqual(restartRequiredChanges(a, b), ['localmoe.device']);
    assert.deepEqual(restartRequiredChanges(a, a), []);
  });

  it('describes the effective config one setting per line', () => {
    const text = describeConfig(DEFAULT_CONFIG);
    assert.match(text, /^localmoe\.modelPath = ""$/m);
    assert.match(text, /^localmoe\.completion\.debounceMs = 150$/m);
  });

  it('builds initialize params with the VRAM budget in bytes', () => {
    const p = initializeParams({ ...DEFAULT_CONFIG, vramBudget: '2GiB', device: 'cuda' });
    assert.equal(p.device, 'cuda');
    assert.equal(p.modelPath, '');
    assert.deepEqual(p.offload, {
      vramBudgetBytes: 2 * 2 ** 30,
      cachePolicy: 'lru',
      speculativeLoading: true,
    });
  });
});
