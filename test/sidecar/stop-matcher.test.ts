import * as assert from 'node:assert/strict';
import { StopMatcher } from '../../src/sidecar/stop-matcher';

function feed(
  stops: string[],
  chunks: string[],
): { emitted: string[]; stopped: boolean; rest: string } {
  const m = new StopMatcher(stops);
  const emitted: string[] = [];
  let stopped = false;
  for (const c of chunks) {
    const r = m.push(c);
    emitted.push(r.text);
    stopped ||= r.stopped;
  }
  return { emitted, stopped, rest: m.flush() };
}

describe('StopMatcher', () => {
  it('passes text through when there are no stop sequences', () => {
    assert.deepEqual(feed([], ['a', 'b\n']), { emitted: ['a', 'b\n'], stopped: false, rest: '' });
  });

  it('stops inside a chunk and drops the stop sequence and what follows', () => {
    const r = feed(['\n\n'], ['foo\n\nbar']);
    assert.deepEqual(r.emitted, ['foo']);
    assert.equal(r.stopped, true);
    assert.equal(r.rest, '');
  });

  it('matches a stop sequence split across chunks, holding back its prefix', () => {
    const r = feed(['```'], ['code`', '`', '` after']);
    assert.deepEqual(r.emitted, ['code', '', '']);
    assert.equal(r.stopped, true);
  });

  it('releases held text once it cannot be a stop sequence', () => {
    const r = feed(['END'], ['xE', 'Nx', 'y']);
    assert.deepEqual(r.emitted, ['x', 'ENx', 'y']);
    assert.equal(r.stopped, false);
  });

  it('flush returns a held tail that never completed', () => {
    assert.deepEqual(feed(['END'], ['abcEN']), { emitted: ['abc'], stopped: false, rest: 'EN' });
  });

  it('picks the earliest of several stop sequences', () => {
    assert.deepEqual(feed(['bbb', 'b'], ['aab bbb']).emitted, ['aa']);
  });

  it('emits nothing after stopping and ignores empty stop strings', () => {
    const m = new StopMatcher(['', 'x']);
    assert.deepEqual(m.push('ab'), { text: 'ab', stopped: false });
    assert.deepEqual(m.push('xz'), { text: '', stopped: true });
    assert.deepEqual(m.push('more'), { text: '', stopped: true });
  });
});
