// One engine, one queue. Pure (no engine, no I/O): jobs are async functions given an AbortSignal.
//
// Policy:
// - One job runs at a time (the engine is single-threaded).
// - Queued completions run before queued chats: a user waiting on ghost text is waiting now; a
//   chat reply already streams.
// - A completion preempts a running chat between tokens: the chat's `turn.preempt` signal fires, the
//   chat stops its engine run and calls `turn.pause()`, which gives the engine up; the completion
//   runs, and the chat resumes (its pause() resolves) once no completion is waiting. The chat keeps
//   its KV in its own engine slot, so resuming costs one token of prefill (generation.ts resubmits
//   prompt + tokens so far; the engine reuses the common prefix). A job that never pauses is simply
//   waited for.
// - A new completion supersedes every older completion: queued ones are dropped without running,
//   a running one is cancelled (the engine stops within one token). Its text is stale anyway.
// - Cancel (client $/cancelRequest, time budget, shutdown) drops a queued job, aborts a running one,
//   and wakes a paused one (it ends with what it has generated).
// A dropped job never runs; its result comes from `dropped(reason)` so every request still gets
// an answer.

export type JobKind = 'complete' | 'chat';

/** Why a job was cancelled; it is the AbortSignal's `reason`. */
export type CancelReason = 'client' | 'superseded' | 'time' | 'stop' | 'shutdown';

/** What a running job may do besides watching its cancel signal. */
export interface JobTurn {
  /**
   * Aborted (reason 'preempt') when a completion is waiting for the engine; only chat jobs are ever
   * preempted. The job should stop its engine run between tokens and call pause(). A fresh signal
   * is in place once pause() resolves.
   */
  readonly preempt: AbortSignal;
  /**
   * Gives the engine up (call it only once the engine run has stopped) and resolves when the job
   * may use the engine again, or at once when the job was cancelled (check the job's signal).
   */
  pause(): Promise<void>;
}

export interface ScheduledJob<T> {
  readonly result: Promise<T>;
  /** Drops the job if queued, aborts it if running; no-op once it settled. */
  cancel(reason: CancelReason): void;
}

interface Entry {
  readonly id: number;
  readonly kind: JobKind;
  readonly controller: AbortController;
  /** Aborted to ask the running job to pause (see JobTurn); replaced on each resume. */
  preempter: AbortController;
  /** Set while the job is paused in the queue: resumes it (the job owns the engine again). */
  resume?: () => void;
  start(): void;
  drop(reason: CancelReason): void;
}

export interface SchedulerEvents {
  /** Called when the scheduler goes idle or busy (for status notifications). */
  onBusyChange?(busy: boolean): void;
}

export function cancelReasonOf(signal: AbortSignal): CancelReason | undefined {
  return signal.aborted ? (signal.reason as CancelReason) : undefined;
}

export class Scheduler {
  private readonly queue: Entry[] = [];
  private running: Entry | undefined;
  private nextId = 1;

  constructor(private readonly events: SchedulerEvents = {}) {}

  get busy(): boolean {
    return this.running !== undefined || this.queue.length > 0;
  }

  get queuedCount(): number {
    return this.queue.length;
  }

  submit<T>(
    kind: JobKind,
    run: (signal: AbortSignal, turn: JobTurn) => Promise<T>,
    dropped: (reason: CancelReason) => T,
  ): ScheduledJob<T> {
    if (kind === 'complete') this.cancelKind('complete', 'superseded');
    const wasBusy = this.busy;
    const controller = new AbortController();
    let settled = false;
    let resolve!: (value: T) => void;
    let reject!: (err: unknown) => void;
    const result = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const entry: Entry = {
      id: this.nextId++,
      kind,
      controller,
      preempter: new AbortController(),
      start: () => {
        const turn: JobTurn = {
          get preempt() {
            return entry.preempter.signal;
          },
          pause: () => this.pause(entry),
        };
        let running: Promise<T>;
        try {
          running = run(controller.signal, turn);
        } catch (err) {
          running = Promise.reject(err);
        }
        // The slot is freed before the caller sees the result, so `busy` is already accurate then.
        const finish = () => {
          settled = true;
          if (this.running === entry) this.running = undefined; // else: woken from a pause, cancelled
          this.pump();
        };
        running.then(
          (value) => {
            finish();
            resolve(value);
          },
          (err: unknown) => {
            finish();
            reject(err);
          },
        );
      },
      drop: (reason) => {
        settled = true;
        resolve(dropped(reason));
      },
    };
    this.queue.push(entry);
    if (!wasBusy) this.events.onBusyChange?.(true);
    // Queued first: a chat that pauses at once (inside abort()) must find the completion waiting.
    if (kind === 'complete' && this.running?.kind === 'chat')
      this.running.preempter.abort('preempt');
    this.pump();
    return {
      result,
      cancel: (reason) => {
        if (settled) return;
        const at = this.queue.indexOf(entry);
        if (at >= 0 && entry.resume) {
          // Paused mid-run: wake it with its signal aborted; it ends itself with what it has.
          controller.abort(reason);
          this.wake(entry);
        } else if (at >= 0) {
          this.queue.splice(at, 1);
          controller.abort(reason);
          entry.drop(reason);
          if (!this.busy) this.events.onBusyChange?.(false);
        } else if (!controller.signal.aborted) {
          controller.abort(reason);
        }
      },
    };
  }

  /** Cancels every queued and running job (shutdown, model reload). */
  cancelAll(reason: CancelReason): void {
    this.cancelKind('complete', reason);
    this.cancelKind('chat', reason);
  }

  private cancelKind(kind: JobKind, reason: CancelReason): void {
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const entry = this.queue[i];
      if (entry.kind !== kind) continue;
      entry.controller.abort(reason);
      if (entry.resume) {
        this.wake(entry); // paused: it ends itself (and leaves the queue) with its partial result
        continue;
      }
      this.queue.splice(i, 1);
      entry.drop(reason);
    }
    if (this.running?.kind === kind && !this.running.controller.signal.aborted) {
      this.running.controller.abort(reason);
    }
  }

  /** The running `entry` gives the engine up until pump() resumes it (JobTurn.pause). */
  private pause(entry: Entry): Promise<void> {
    if (this.running !== entry || entry.controller.signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      entry.resume = () => {
        entry.resume = undefined;
        entry.preempter = new AbortController();
        resolve();
      };
      entry.start = () => entry.resume?.();
      this.running = undefined;
      this.queue.unshift(entry); // first among the chats: it started before any of them
      this.pump();
    });
  }

  /** Takes a paused (cancelled) entry out of the queue and resolves its pause() without the engine. */
  private wake(entry: Entry): void {
    const at = this.queue.indexOf(entry);
    if (at >= 0) this.queue.splice(at, 1);
    entry.resume?.();
  }

  private pump(): void {
    if (this.running) return;
    const at = this.queue.findIndex((e) => e.kind === 'complete');
    const next = this.queue.splice(at >= 0 ? at : 0, 1)[0];
    if (!next) {
      this.events.onBusyChange?.(false);
      return;
    }
    this.running = next;
    next.start();
  }
}
