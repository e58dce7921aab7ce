// Shared helpers for the UI unit tests (not a test file itself).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CancelSignal, Disposable } from '../../src/util/cancel';

/** The repository root: tests run bundled from out/test/unit, so walk up to package.json. */
export function repoRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + __dirname);
    dir = up;
  }
  return dir;
}

/** A cancellation signal the test cancels by hand. */
export function manualSignal(): CancelSignal & { cancel(): void } {
  let cancelled = false;
  const listeners = new Set<(e: unknown) => void>();
  return {
    get isCancellationRequested() {
      return cancelled;
    },
    onCancellationRequested(l: (e: unknown) => void): Disposable {
      listeners.add(l);
      return { dispose: () => void listeners.delete(l) };
    },
    cancel() {
      cancelled = true;
      for (const l of listeners) l(undefined);
    },
  };
}
