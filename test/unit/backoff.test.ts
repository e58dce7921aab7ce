import * as assert from 'node:assert/strict';
import { Backoff } from '../../src/client/backoff';

describe('restart backoff', () => {
  const opts = { initialMs: 1000, maxMs: 5000, maxCrashes: 4, windowMs: 60_000 };

  it('doubles the delay up to the ceiling, then gives up on a crash loop', () => {
    const b = new Backoff(opts);
    assert.deepEqual(b.onCrash(0), { retry: true, delayMs: 1000, attempt: 1 });
    assert.deepEqual(b.onCrash(1), { retry: true, delayMs: 2000, attempt: 2 });
    assert.deepEqual(b.onCrash(2), { retry: true, delayMs: 4000, attempt: 3 });
    assert.deepEqual(b.onCrash(3), { retry: false, crashes: 4 });
  });

  it('forgets crashes outside the window and after reset', () => {
    const b = new Backoff(opts);
    b.onCrash(0);
    b.onCrash(1);
    assert.deepEqual(b.onCrash(120_000), { retry: true, delayMs: 1000, attempt: 1 });
    b.reset();
    assert.deepEqual(b.onCrash(120_001), { retry: true, delayMs: 1000, attempt: 1 });
  });

  it('caps the delay', () => {
    const b = new Backoff({ ...opts, maxCrashes: 100 });
    let last = 0;
    for (let i = 0; i < 10; i++) {
      const d = b.onCrash(i);
      if (d.retry) last = d.delayMs;
    }
    assert.equal(last, 5000);
  });
});
