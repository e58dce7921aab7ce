// One engine, one queue. Pure (no engine, no I/O): jobs are async functions given an AbortSignal.
//
// Policy:
// - One job runs at a time (the engine is single-threaded and holds one KV cache).
// - Queued completions run before queued chats: a user waiting on ghost text is waiting now; a
//   chat reply already streams. A running chat is not preempted (its KV state would be lost).
// - A new completion supersedes every older completion: queued ones are dropped without running,
//   a running one is cancelled (the engine stops within one token). Its text is stale anyway.
// - Cancel (client $/cancelRequest, time budget, shutdown) drops a queued job or aborts a running one.
// A dropped job never runs; its result comes from `dropped(reason)` so every request still gets
// an answer.

export type JobKind = 'complete' | 'chat';

/** Why a job was cancelled; it is the AbortSignal's `reason`. */
export type CancelReason = 'client' | 'superseded' | 'time' | 'stop' | 'shutdown';

export interface ScheduledJob<T> {
  readonly result: Promise<T>;
  /** Drops the job if queued, aborts it if running; no-op once it settled. */
  cancel(reason: CancelReason): void;
}

interface Entry {
  readonly id: number;
  readonly kind: JobKind;
  readonly controller: AbortController;
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
    run: (signal: AbortSignal) => Promise<T>,
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
      start: () => {
        let running: Promise<T>;
        try {
          running = run(controller.signal);
        } catch (err) {
          running = Promise.reject(err);
        }
        // The slot is freed before the caller sees the result, so `busy` is already accurate then.
        const finish = () => {
          settled = true;
          this.running = undefined;
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
    this.pump();
    return {
      result,
      cancel: (reason) => {
        if (settled) return;
        const at = this.queue.indexOf(entry);
        if (at >= 0) {
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
      this.queue.splice(i, 1);
      entry.controller.abort(reason);
      entry.drop(reason);
    }
    if (this.running?.kind === kind && !this.running.controller.signal.aborted) {
      this.running.controller.abort(reason);
    }
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
