import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { StreamDecoder } from '../../src/sidecar/stream-decoder';
import { ModelTokenizer } from '../../src/sidecar/tokenizer';
import { writeStandInTokenizer } from './helpers/stand-in-tokenizer';

function streamAll(tok: ModelTokenizer, ids: number[], context: number[] = []): string[] {
  const decoder = new StreamDecoder((x) => tok.decode(x), context);
  const out = ids.map((id) => decoder.push(id));
  out.push(decoder.flush());
  return out;
}

describe('StreamDecoder (Llama/Mistral vocabulary)', () => {
  let dir: string;
  let tok: ModelTokenizer;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'localmoe-tok-'));
    writeStandInTokenizer(dir);
    tok = ModelTokenizer.load(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('concatenated deltas equal a one-shot decode for multi-byte text', () => {
    const text = 'def f():\n\treturn "é→😀 ✓ 日本語"  # done';
    const ids = tok.encode(text, { bos: false });
    const deltas = streamAll(tok, ids);
    assert.equal(deltas.join(''), tok.decode(ids));
    assert.equal(deltas.join(''), text);
  });

  it('holds back partial UTF-8 byte-fallback tokens and never emits U+FFFD', () => {
    // '😀' spelled as the byte tokens <0xF0><0x9F><0x98><0x80> (byte b is id 3 + b in this vocabulary).
    const bytes = [0xf0, 0x9f, 0x98, 0x80].map((b) => 3 + b);
    assert.equal(tok.decode(bytes), '😀');
    const deltas = streamAll(tok, bytes);
    assert.deepEqual(deltas, ['', '', '', '😀', '']);
  });

  it('keeps the leading space of a continuation when given prompt context', () => {
    const prompt = tok.encode('x =', { bos: true });
    const continuation = tok.encode('x = foo', { bos: false }).slice(prompt.length - 1);
    assert.equal(
      tok.decode(continuation),
      'foo',
      'decoded alone, the SentencePiece space is stripped',
    );
    assert.equal(streamAll(tok, continuation, prompt.slice(-3)).join(''), ' foo');
  });

  it('strips the first space of a fresh reply, as transformers does', () => {
    const ids = tok.encode('Hello world', { bos: false });
    assert.equal(streamAll(tok, ids).join(''), 'Hello world');
  });

  it('skips special tokens (EOS)', () => {
    const ids = [...tok.encode('ok', { bos: false }), 2];
    assert.equal(streamAll(tok, ids).join(''), 'ok');
  });

  it('flush releases an incomplete sequence at the end', () => {
    const lone = [3 + 0xe2];
    assert.deepEqual(streamAll(tok, lone), ['', '\uFFFD']);
  });
});

describe('StreamDecoder (injected decoder)', () => {
  it('works over long streams (window compaction keeps the text identical)', () => {
    const decode = (ids: readonly number[]) =>
      ids.map((i) => String.fromCharCode(97 + (i % 26))).join('');
    const decoder = new StreamDecoder(decode);
    let text = '';
    for (let i = 0; i < 1000; i++) text += decoder.push(i);
    text += decoder.flush();
    assert.equal(text, decode(Array.from({ length: 1000 }, (_, i) => i)));
  });
});
