import * as assert from 'node:assert/strict';
import { Throttle, type Clock } from '../../src/sidecar/throttle';

class ManualClock implements Clock {
  t = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = this.nextId++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  };
  clearTimeout = (h: unknown) => {
    this.timers = this.timers.filter((t) => t.id !== h);
  };
  advance(ms: number): void {
    this.t += ms;
    const due = this.timers.filter((t) => t.at <= this.t);
    this.timers = this.timers.filter((t) => t.at > this.t);
    due.forEach((t) => t.fn());
  }
}

describe('Throttle', () => {
  it('fires at most once per interval and never loses the trailing call', () => {
    const clock = new ManualClock();
    let calls = 0;
    const th = new Throttle(250, () => calls++, clock);
    th.request(); // fires now
    for (let i = 0; i < 100; i++) {
      clock.advance(5);
      th.request();
    }
    // 500 ms of requests every 5 ms: t=0, 250, 500 at most.
    assert.ok(calls <= 3, `${calls} calls`);
    clock.advance(250);
    const settled = calls;
    clock.advance(1000);
    assert.equal(calls, settled, 'no calls without requests');
    assert.ok(calls >= 2, 'the trailing request fired');
  });

  it('flush fires immediately and cancels the pending call', () => {
    const clock = new ManualClock();
    let calls = 0;
    const th = new Throttle(250, () => calls++, clock);
    th.request();
    th.request();
    th.flush();
    assert.equal(calls, 2);
    clock.advance(1000);
    assert.equal(calls, 2);
  });
});
