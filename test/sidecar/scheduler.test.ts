import * as assert from 'node:assert/strict';
import {
  Scheduler,
  cancelReasonOf,
  type CancelReason,
  type JobKind,
  type JobTurn,
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

  describe('preemption', () => {
    /**
     * A chat that behaves like runGeneration: on `preempt` it stops "decoding" and pauses; once
     * resumed it goes on until released. Records the order of events in `log`.
     */
    class PausingChat {
      pauses = 0;
      resumed = 0;
      private finish!: (v: string) => void;
      constructor(
        readonly name: string,
        readonly log: string[],
      ) {}
      run = (signal: AbortSignal, turn: JobTurn): Promise<string> =>
        new Promise<string>((resolve) => {
          this.finish = resolve;
          this.log.push(`${this.name}:start`);
          let paused = false;
          const onPreempt = async () => {
            this.pauses++;
            this.log.push(`${this.name}:pause`);
            paused = true;
            await turn.pause();
            paused = false;
            if (signal.aborted) {
              this.log.push(`${this.name}:cancelled-while-paused`);
              resolve(`${this.name}:partial:${String(cancelReasonOf(signal))}`);
              return;
            }
            this.resumed++;
            this.log.push(`${this.name}:resume`);
            turn.preempt.addEventListener('abort', () => void onPreempt(), { once: true });
          };
          turn.preempt.addEventListener('abort', () => void onPreempt(), { once: true });
          signal.addEventListener('abort', () => {
            if (!paused) resolve(`${this.name}:aborted`); // paused: pause() resolves, see above
          });
        });
      release(): void {
        this.log.push(`${this.name}:done`);
        this.finish(`${this.name}:done`);
      }
    }

    /** A FakeJob that logs its start. */
    class LoggedJob {
      private readonly inner: FakeJob;
      constructor(
        readonly name: string,
        readonly log: string[],
      ) {
        this.inner = new FakeJob(name);
      }
      get started(): boolean {
        return this.inner.started;
      }
      run = (signal: AbortSignal): Promise<string> => {
        this.log.push(`${this.name}:start`);
        return this.inner.run(signal);
      };
      release(): void {
        this.inner.release();
      }
    }
    const submitLogged = (s: Scheduler, kind: JobKind, job: LoggedJob) =>
      s.submit(kind, job.run, (reason) => `${job.name}:dropped:${reason}`);

    it('a completion pauses a running chat, runs, and the chat resumes after it', async () => {
      const log: string[] = [];
      const s = new Scheduler();
      const chat = new PausingChat('chat', log);
      const comp = new FakeJob('comp');
      const rChat = s.submit('chat', chat.run, () => 'chat:dropped');
      const rComp = submit(s, 'complete', comp);
      await tick();
      assert.equal(chat.pauses, 1);
      assert.equal(comp.started, true, 'the completion runs while the chat is paused');
      assert.equal(chat.resumed, 0);
      assert.equal(s.busy, true);
      comp.release();
      assert.equal(await rComp.result, 'comp:done');
      await tick();
      assert.equal(chat.resumed, 1);
      chat.release();
      assert.equal(await rChat.result, 'chat:done');
      assert.deepEqual(log, ['chat:start', 'chat:pause', 'chat:resume', 'chat:done']);
      assert.equal(s.busy, false);
    });

    it('the paused chat waits for every completion, and resumes before queued chats', async () => {
      const log: string[] = [];
      const s = new Scheduler();
      const chat = new PausingChat('chat', log);
      const later = new LoggedJob('later', log);
      const c1 = new LoggedJob('c1', log);
      const c2 = new LoggedJob('c2', log);
      const rChat = s.submit('chat', chat.run, () => 'chat:dropped');
      const rLater = submitLogged(s, 'chat', later);
      const r1 = submitLogged(s, 'complete', c1);
      await tick();
      const r2 = submitLogged(s, 'complete', c2); // supersedes c1 (running): c1 aborts, c2 runs next
      assert.equal(await r1.result, 'c1:aborted');
      await tick();
      assert.equal(c2.started, true);
      assert.equal(chat.resumed, 0, 'no resume between two completions');
      c2.release();
      await r2.result;
      await tick();
      assert.equal(chat.resumed, 1);
      assert.equal(later.started, false, 'the queued chat waits for the resumed one');
      // A second preemption of the resumed chat works the same way.
      const c3 = new LoggedJob('c3', log);
      const r3 = submitLogged(s, 'complete', c3);
      await tick();
      assert.equal(chat.pauses, 2);
      c3.release();
      await r3.result;
      await tick();
      chat.release();
      await rChat.result;
      await tick();
      assert.equal(later.started, true);
      later.release();
      await rLater.result;
      assert.deepEqual(log, [
        'chat:start',
        'chat:pause',
        'c1:start',
        'c2:start',
        'chat:resume',
        'chat:pause',
        'c3:start',
        'chat:resume',
        'chat:done',
        'later:start',
      ]);
    });

    it('cancelling a paused chat wakes it with its partial result; the completion is unaffected', async () => {
      const changes: boolean[] = [];
      const log: string[] = [];
      const s = new Scheduler({ onBusyChange: (b) => changes.push(b) });
      const chat = new PausingChat('chat', log);
      const comp = new FakeJob('comp');
      const rChat = s.submit('chat', chat.run, () => 'chat:dropped');
      const rComp = submit(s, 'complete', comp);
      await tick();
      rChat.cancel('client');
      assert.equal(await rChat.result, 'chat:partial:client');
      assert.equal(comp.abortedWith, undefined);
      comp.release();
      assert.equal(await rComp.result, 'comp:done');
      await tick();
      assert.equal(chat.resumed, 0);
      assert.equal(s.busy, false);
      assert.equal(changes.at(-1), false);
    });

    it('cancelAll wakes a paused chat too', async () => {
      const s = new Scheduler();
      const chat = new PausingChat('chat', []);
      const comp = new FakeJob('comp');
      const rChat = s.submit('chat', chat.run, () => 'chat:dropped');
      const rComp = submit(s, 'complete', comp);
      await tick();
      s.cancelAll('shutdown');
      assert.equal(await rChat.result, 'chat:partial:shutdown');
      assert.equal(await rComp.result, 'comp:aborted');
      await tick();
      assert.equal(s.busy, false);
    });

    it('completions are superseded, never paused; a chat is never preempted by a chat', async () => {
      const s = new Scheduler();
      let completionPreempted = false;
      const first = s.submit(
        'complete',
        (signal, turn) =>
          new Promise<string>((resolve) => {
            turn.preempt.addEventListener('abort', () => (completionPreempted = true));
            signal.addEventListener('abort', () => resolve('first:aborted'));
          }),
        () => 'first:dropped',
      );
      const second = new FakeJob('second');
      const rSecond = submit(s, 'complete', second);
      assert.equal(await first.result, 'first:aborted');
      assert.equal(completionPreempted, false);
      second.release();
      await rSecond.result;

      const chat = new PausingChat('chat', []);
      const rChat = s.submit('chat', chat.run, () => 'chat:dropped');
      const other = new FakeJob('other');
      const rOther = submit(s, 'chat', other);
      await tick();
      assert.equal(chat.pauses, 0);
      chat.release();
      await rChat.result;
      await tick();
      other.release();
      await rOther.result;
    });
  });
});
