import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { checkModelFolder, resolveModelPath } from '../../src/sidecar/model-path';

describe('model path resolution', () => {
  it('client path > LOCALMOE_MODEL > embedded model next to the bundle', () => {
    const env = { LOCALMOE_MODEL: '/env/model' };
    assert.equal(resolveModelPath('/client/model', env, '/ext/dist'), '/client/model');
    assert.equal(resolveModelPath('', env, '/ext/dist'), '/env/model');
    assert.equal(resolveModelPath('  ', {}, '/ext/dist'), '/ext/models/localmoe-code-tiny');
  });

  it('checkModelFolder names the missing folder or config.json', () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'localmoe-mp-'));
    try {
      assert.throws(
        () => checkModelFolder(path.join(tmp, 'nope')),
        /model folder not found: .*nope/,
      );
      const file = path.join(tmp, 'file');
      writeFileSync(file, '');
      assert.throws(() => checkModelFolder(file), /model folder not found/);
      mkdirSync(path.join(tmp, 'empty'));
      assert.throws(
        () => checkModelFolder(path.join(tmp, 'empty')),
        /config\.json not found in .*empty/,
      );
      writeFileSync(path.join(tmp, 'empty', 'config.json'), '{}');
      assert.doesNotThrow(() => checkModelFolder(path.join(tmp, 'empty')));
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
