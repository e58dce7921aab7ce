// The addon's side of issue #10: kvSlots / kvSlot / reusePrefix go through, reusedTokens and the
// reuse counters come back, and a bad slot is the engine's error. The numerics (identical output
// with and without reuse) are native/tests/test_prefix_reuse.cpp's job.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { isAddonError, type NativeEngine } from '../../src/sidecar/addon-types';
import { repoRoot } from '../sidecar/helpers/repo';
import { addon } from './helpers';

describe('addon: KV slots and prefix reuse', function () {
  this.timeout(60000);
  let engine: NativeEngine;
  const prompt = [1, 422, 6184, 28747, 379, 3022, 28748, 28722, 329, 1238, 23762, 2893, 28723];

  before(async () => {
    engine = await addon().load({
      modelDir: path.join(repoRoot(), 'models', 'localmoe-code-tiny'),
      threads: 2,
      kvSlots: 3,
    });
  });
  after(() => engine?.unload());

  const run = (options: { kvSlot?: number; reusePrefix?: boolean; prompt?: number[] }) =>
    engine.generate({ prompt, maxNewTokens: 6, stopAtEos: false, ...options }, () => undefined);

  it('reuses the slot prefix; reusePrefix false and other slots prefill everything', async () => {
    engine.resetCounters();
    const first = await run({ kvSlot: 2 });
    assert.equal(first.reusedTokens, 0);
    const again = await run({ kvSlot: 2 });
    assert.equal(again.reusedTokens, prompt.length - 1);
    assert.deepEqual(again.tokens, first.tokens);
    const extended = await run({ kvSlot: 2, prompt: [...prompt, ...first.tokens] });
    assert.equal(extended.reusedTokens, prompt.length + first.tokens.length - 1);
    const off = await run({ kvSlot: 2, reusePrefix: false });
    assert.equal(off.reusedTokens, 0);
    assert.deepEqual(off.tokens, first.tokens);
    const other = await run({ kvSlot: 1 });
    assert.equal(other.reusedTokens, 0);
    const c = engine.counters();
    assert.equal(c.reusedPromptTokens, again.reusedTokens + extended.reusedTokens);
    assert.equal(c.kvSlotEvictions, 1, 'reusePrefix false discarded what slot 2 held');
  });

  it('a slot outside kvSlots rejects with the engine error; bad types are TypeErrors', async () => {
    await assert.rejects(run({ kvSlot: 3 }), (err: unknown) => {
      assert.ok(isAddonError(err) && err.code === 'ERR_LOCALMOE_ENGINE', String(err));
      assert.match((err as Error).message, /kv_slot 3 does not exist/);
      return true;
    });
    await assert.rejects(run({ kvSlot: -1 }), TypeError);
    await assert.rejects(
      engine.generate(
        { prompt, maxNewTokens: 1, reusePrefix: 1 as unknown as boolean },
        () => undefined,
      ),
      /reusePrefix must be a boolean/,
    );
    await assert.rejects(
      addon().load({ modelDir: path.join(repoRoot(), 'models', 'localmoe-code-tiny'), kvSlots: 0 }),
      TypeError,
    );
  });
});
