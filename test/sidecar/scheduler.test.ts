import * as assert from 'node:assert/strict';
import {
  Scheduler,
  cancelReasonOf,
  type CancelReason,
  type JobKind,
} from '../../src/sidecar/scheduler';

/** A job that runs until released (or aborted), recording what happened to it. */
class FakeJob {
  started = false;
  abortedWith: CancelReason | undefined;
  private finish!: (v: string) => void;
  constructor(readonly name: string) {}
  run = (signal: AbortSignal): Promise<string> => {
    this.started = true;
    return new Promise<string>((resolve) => {
      this.finish = resolve;
      signal.addEventListener('abort', () => {
        this.abortedWith = cancelReasonOf(signal);
        resolve(`${this.name}:aborted`);
      });
    });
  };
  release(): void {
    this.finish(`${this.name}:done`);
  }
}

const tick = () => new Promise((r) => setImmediate(r));

function submit(s: Scheduler, kind: JobKind, job: FakeJob) {
  return s.submit(kind, job.run, (reason) => `${job.name}:dropped:${reason}`);
}

describe('Scheduler', () => {
  it('runs one job at a time, in order', async () => {
    const s = new Scheduler();
    const a = new FakeJob('a');
    const b = new FakeJob('b');
    const ra = submit(s, 'chat', a);
    const rb = submit(s, 'chat', b);
    assert.equal(a.started, true);
    assert.equal(b.started, false);
    a.release();
    assert.equal(await ra.result, 'a:done');
    await tick();
    assert.equal(b.started, true);
    b.release();
    assert.equal(await rb.result, 'b:done');
    assert.equal(s.busy, false);
  });

  it('a new completion cancels a running one and drops a queued one', async () => {
    const s = new Scheduler();
    const running = new FakeJob('c1');
    const queued = new FakeJob('c2');
    const newest = new FakeJob('c3');
    const r1 = submit(s, 'complete', running);
    const r2 = submit(s, 'complete', queued); // supersedes c1 (running -> aborted)
    const r3 = submit(s, 'complete', newest); // supersedes c2 (queued -> dropped, never runs)
    assert.equal(await r1.result, 'c1:aborted');
    assert.equal(running.abortedWith, 'superseded');
    assert.equal(await r2.result, 'c2:dropped:superseded');
    assert.equal(queued.started, false);
    await tick();
    assert.equal(newest.started, true);
    newest.release();
    assert.equal(await r3.result, 'c3:done');
  });

  it('a new completion does not cancel a running chat, and runs before queued chats', async () => {
    const s = new Scheduler();
    const chat1 = new FakeJob('chat1');
    const chat2 = new FakeJob('chat2');
    const comp = new FakeJob('comp');
    submit(s, 'chat', chat1);
    const r2 = submit(s, 'chat', chat2);
    const rc = submit(s, 'complete', comp);
    assert.equal(chat1.abortedWith, undefined);
    chat1.release();
    await tick();
    assert.equal(comp.started, true, 'completion jumps the queued chat');
    assert.equal(chat2.started, false);
    comp.release();
    await rc.result;
    await tick();
    assert.equal(chat2.started, true);
    chat2.release();
    assert.equal(await r2.result, 'chat2:done');
  });

  it('client cancel drops a queued job and aborts a running one', async () => {
    const s = new Scheduler();
    const a = new FakeJob('a');
    const b = new FakeJob('b');
    const ra = submit(s, 'chat', a);
    const rb = submit(s, 'chat', b);
    rb.cancel('client');
    assert.equal(await rb.result, 'b:dropped:client');
    ra.cancel('client');
    assert.equal(await ra.result, 'a:aborted');
    assert.equal(a.abortedWith, 'client');
    assert.equal(b.started, false);
  });

  it('cancelAll aborts everything and reports busy changes', async () => {
    const changes: boolean[] = [];
    const s = new Scheduler({ onBusyChange: (b) => changes.push(b) });
    const a = new FakeJob('a');
    const b = new FakeJob('b');
    const ra = submit(s, 'chat', a);
    const rb = submit(s, 'complete', b);
    s.cancelAll('shutdown');
    assert.equal(await ra.result, 'a:aborted');
    assert.equal(await rb.result, 'b:dropped:shutdown');
    await tick();
    assert.deepEqual(changes, [true, false]);
  });

  it('a job that throws rejects its result and the queue moves on', async () => {
    const s = new Scheduler();
    const failing = s.submit(
      'chat',
      () => {
        throw new Error('boom');
      },
      () => 'dropped',
    );
    const next = new FakeJob('next');
    const rn = submit(s, 'chat', next);
    await assert.rejects(failing.result, /boom/);
    await tick();
    assert.equal(next.started, true);
    next.release();
    assert.equal(await rn.result, 'next:done');
  });
});
