// The engine is stopped for a CUDA benchmark and restarted after it, whatever the outcome
// (src/bench/engine-pause.ts), against a fake supervisor that records the calls.
import * as assert from 'node:assert/strict';
import {
  mustStopEngine,
  withEngineStopped,
  type PausableEngine,
} from '../../src/bench/engine-pause';

function fakeEngine(restartFails = false) {
  const calls: string[] = [];
  const engine: PausableEngine & { calls: string[] } = {
    calls,
    state: { kind: 'running' },
    stop: async () => void calls.push('stop'),
    restart: async () => {
      calls.push('restart');
      if (restartFails) throw new Error('no GPU');
    },
  };
  return engine;
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('bench engine pause', () => {
  it('stops the engine only for CUDA runs while it holds or loads a model', () => {
    assert.equal(mustStopEngine('cuda', 'running'), true);
    assert.equal(mustStopEngine('cuda', 'starting'), true);
    assert.equal(mustStopEngine('cuda', 'restarting'), true);
    assert.equal(mustStopEngine('cuda', 'idle'), false);
    assert.equal(mustStopEngine('cuda', 'failed'), false);
    assert.equal(mustStopEngine('cuda', 'stopped'), false);
    assert.equal(mustStopEngine('cpu', 'running'), false);
    assert.equal(mustStopEngine(undefined, 'running'), false);
  });

  it('stop → run → restart, and tells the user', async () => {
    const e = fakeEngine();
    const told: string[] = [];
    const result = await withEngineStopped(
      e,
      true,
      async () => {
        e.calls.push('run');
        return 42;
      },
      { onStopping: () => told.push('stopping'), onRestarted: () => told.push('restarted') },
    );
    await tick();
    assert.equal(result, 42);
    assert.deepEqual(e.calls, ['stop', 'run', 'restart']);
    assert.deepEqual(told, ['stopping', 'restarted']);
  });

  it('restarts after a failed or cancelled run, and reports a failed restart', async () => {
    const e = fakeEngine(true);
    let failed: unknown;
    await assert.rejects(
      withEngineStopped(
        e,
        true,
        async () => {
          throw new Error('moe bench: out of memory');
        },
        { onRestartFailed: (err) => (failed = err) },
      ),
      /out of memory/,
    );
    await tick();
    assert.deepEqual(e.calls, ['stop', 'restart']);
    assert.match(String(failed), /no GPU/);
  });

  it('leaves the engine alone when no stop is needed', async () => {
    const e = fakeEngine();
    assert.equal(await withEngineStopped(e, false, async () => 'ok'), 'ok');
    await tick();
    assert.deepEqual(e.calls, []);
  });
});
