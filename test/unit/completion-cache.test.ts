import * as assert from 'node:assert/strict';
import { SuggestionCache } from '../../src/completion/cache';

describe('suggestion cache', () => {
  it('returns an exact hit', () => {
    const c = new SuggestionCache();
    c.set('a = ', '\n', 'foo(1)');
    assert.deepEqual(c.get('a = ', '\n'), { text: 'foo(1)', kind: 'exact' });
    assert.equal(c.get('a = ', ''), undefined, 'the suffix is part of the key');
  });

  it('serves the rest of a suggestion the user is typing through', () => {
    const c = new SuggestionCache();
    c.set('a = ', '\n', 'foo(1)');
    assert.deepEqual(c.get('a = fo', '\n'), { text: 'o(1)', kind: 'typed-through' });
    assert.equal(c.get('a = fx', '\n'), undefined, 'diverged from the suggestion');
    assert.equal(c.get('a = foo(1)', '\n'), undefined, 'fully typed: nothing left to suggest');
  });

  it('evicts the least recently used entry', () => {
    const c = new SuggestionCache(2);
    c.set('p1', '', 's1');
    c.set('p2', '', 's2');
    c.get('p1', ''); // p1 is now the most recent
    c.set('p3', '', 's3');
    assert.equal(c.size, 2);
    assert.equal(c.get('p2', ''), undefined);
    assert.ok(c.get('p1', ''));
    assert.ok(c.get('p3', ''));
  });
});
