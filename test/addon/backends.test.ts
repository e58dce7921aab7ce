// Backend selection as the editor sees it: buildInfo() lists only backends usable on this machine,
// and asking for an unusable CUDA device fails with the reason instead of crashing.
import * as assert from 'node:assert/strict';
import { resolveDevice } from '../../src/sidecar/server';
import { goldenDir } from '../sidecar/helpers/repo';
import { addon } from './helpers';

describe('addon: backends', () => {
  it('lists CUDA only when it can be used, and says why not otherwise', () => {
    const info = addon().buildInfo();
    assert.ok(info.backends.includes('cpu'));
    assert.equal(typeof info.cudaCompiled, 'boolean');
    if (info.backends.includes('cuda')) assert.equal(info.cudaUnavailableReason, '');
    else assert.ok(info.cudaUnavailableReason.length > 10, 'a reason a user can act on');
  });

  it('loading on an unusable CUDA device rejects with the reason', async function () {
    const info = addon().buildInfo();
    if (info.backends.includes('cuda')) this.skip(); // a GPU machine: covered by scripts/gpu-check.sh
    await assert.rejects(
      addon().load({ modelDir: goldenDir('tiny-fp32'), device: 'cuda' }),
      (e: Error) => {
        assert.match(e.message, /CUDA/);
        assert.ok(e.message.includes(info.cudaUnavailableReason), e.message);
        return true;
      },
    );
  });
});

describe('sidecar: device resolution', () => {
  it("'auto' picks CUDA only when usable", () => {
    assert.equal(resolveDevice('auto', ['cpu', 'cuda']), 'cuda');
    assert.equal(resolveDevice('auto', ['cpu']), 'cpu');
  });
  it("an explicit 'cuda' that cannot be used names the reason", () => {
    assert.throws(
      () => resolveDevice('cuda', ['cpu'], 'no CUDA GPU was found'),
      /no CUDA GPU was found.*'auto' or 'cpu'/,
    );
    assert.equal(resolveDevice('cpu', ['cpu']), 'cpu');
  });
});
