// The addon against the golden fixtures (random Mixtral checkpoints + transformers' outputs).
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { NativeEngine } from '../../src/sidecar/addon-types';
import { readNpyFloat32 } from '../sidecar/helpers/npy';
import { goldenCases, goldenDir, repoRoot } from '../sidecar/helpers/repo';
import { addon, generateRecorded } from './helpers';

const MODELS = ['tiny-fp32', 'tiny-bf16-sharded', 'tiny-fp16-swa-tied'];

describe('addon: build info', () => {
  it('reports the product version and the CPU backend', () => {
    const pkg = JSON.parse(readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as {
      version: string;
    };
    const info = addon().buildInfo();
    assert.equal(info.version, pkg.version);
    assert.ok(info.backends.includes('cpu'));
  });
});

for (const name of MODELS) {
  describe(`addon: golden ${name}`, () => {
    let engine: NativeEngine;
    before(async () => {
      engine = await addon().load({ modelDir: goldenDir(name), threads: 1 });
    });
    after(() => engine?.unload());

    it('info() mirrors config.json', () => {
      const config = JSON.parse(
        readFileSync(path.join(goldenDir(name), 'config.json'), 'utf8'),
      ) as Record<string, number>;
      const info = engine.info();
      assert.equal(info.architecture, 'MixtralForCausalLM');
      assert.equal(info.vocabSize, config.vocab_size);
      assert.equal(info.hiddenSize, config.hidden_size);
      assert.equal(info.intermediateSize, config.intermediate_size);
      assert.equal(info.numLayers, config.num_hidden_layers);
      assert.equal(info.numHeads, config.num_attention_heads);
      assert.equal(info.numKvHeads, config.num_key_value_heads);
      assert.equal(info.numExperts, config.num_local_experts);
      assert.equal(info.expertsPerToken, config.num_experts_per_tok);
      assert.equal(info.maxPositionEmbeddings, config.max_position_embeddings);
      assert.equal(info.device, 'cpu');
      assert.equal(typeof info.backendName, 'string');
      assert.ok(info.memoryBytes > 0);
    });

    goldenCases(name).forEach((c, i) => {
      it(`case ${i}: greedy tokens equal transformers', streamed in order before the promise settles`, async () => {
        const { result, streamed } = await generateRecorded(engine, {
          prompt: c.prompt,
          maxNewTokens: c.greedy.length,
          stopAtEos: false,
        });
        assert.deepEqual(result.tokens, c.greedy);
        assert.deepEqual(
          streamed,
          result.tokens,
          'onToken saw every token, in order, before resolution',
        );
        assert.equal(result.stopReason, 'max_tokens');
        assert.equal(result.promptTokens, c.prompt.length);
      });
    });

    it('promptLogits matches the golden logits', async () => {
      const c = goldenCases(name)[0];
      const golden = readNpyFloat32(path.join(goldenDir(name), 'logits_0.npy'));
      const tokens = [...c.prompt, ...c.greedy].slice(0, golden.shape[0]);
      const logits = await engine.promptLogits(tokens);
      assert.ok(logits instanceof Float32Array);
      assert.equal(logits.length, golden.data.length);
      let maxErr = 0;
      let maxRef = 0;
      for (let i = 0; i < logits.length; i++) {
        maxErr = Math.max(maxErr, Math.abs(logits[i] - golden.data[i]));
        maxRef = Math.max(maxRef, Math.abs(golden.data[i]));
      }
      // Shape/order check, not a numerics test (the engine's C++ golden tests own tolerances):
      // a transposed or shifted result is off by O(|logit|).
      assert.ok(maxErr < 0.05 * Math.max(1, maxRef), `max |err| ${maxErr} (max |ref| ${maxRef})`);
    });

    it('counters count tokens and expert routing; resetCounters zeroes them', async () => {
      engine.resetCounters();
      const before = engine.counters();
      assert.equal(before.generatedTokens, 0);
      const info = engine.info();
      await engine.generate(
        { prompt: [1, 5, 9], maxNewTokens: 4, stopAtEos: false },
        () => undefined,
      );
      const k = engine.counters();
      assert.equal(k.promptTokens, 3);
      assert.equal(k.generatedTokens, 4);
      assert.equal(k.expertUsage.length, info.numLayers);
      assert.ok(k.expertUsage.every((row) => row.length === info.numExperts));
      const perLayer = k.expertUsage.map((row) => row.reduce((a, b) => a + b, 0));
      assert.ok(
        perLayer.every((n) => n > 0 && n === perLayer[0]),
        `routing counted per layer: ${perLayer}`,
      );
      engine.resetCounters();
      assert.equal(engine.counters().generatedTokens, 0);
    });
  });
}
