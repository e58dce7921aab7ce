import * as assert from 'node:assert/strict';
import { parseSidecarLine } from '../../src/client/sidecar-log';

describe('sidecar stderr lines', () => {
  it('keeps the level and drops the sidecar timestamp', () => {
    assert.deepEqual(parseSidecarLine('2026-11-25T14:15:10.952Z [warn] no chat_template'), {
      level: 'warn',
      message: 'no chat_template',
    });
    assert.deepEqual(parseSidecarLine('2026-11-25T14:15:10.952Z [debug] x [y] z'), {
      level: 'debug',
      message: 'x [y] z',
    });
  });

  it('passes foreign lines through, crash reports as errors', () => {
    assert.deepEqual(parseSidecarLine('Segmentation fault (core dumped)'), {
      level: 'error',
      message: 'Segmentation fault (core dumped)',
    });
    assert.deepEqual(parseSidecarLine('(node:1) some note'), {
      level: 'info',
      message: '(node:1) some note',
    });
  });
});
