import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { ChatMessage } from '../../src/protocol';
import { ChatTemplate, foldSystemMessages } from '../../src/sidecar/chat-template';
import { fitChat } from '../../src/sidecar/chat-prompt';
import { ModelTokenizer } from '../../src/sidecar/tokenizer';
import { MIXTRAL_CHAT_TEMPLATE, writeStandInTokenizer } from './helpers/stand-in-tokenizer';

describe('chat template (Mixtral-Instruct)', () => {
  const template = new ChatTemplate(MIXTRAL_CHAT_TEMPLATE, '<s>', '</s>');

  it('renders alternating turns as Mixtral expects', () => {
    const text = template.render([
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: 'Sort a list in Python' },
    ]);
    assert.equal(text, '<s>[INST] Hi [/INST]Hello!</s>[INST] Sort a list in Python [/INST]');
  });

  it('folds a system message into the first user turn (the template has no system role)', () => {
    const text = template.render([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ]);
    assert.equal(text, '<s>[INST] Be brief.\n\nHi [/INST]');
  });

  it("surfaces the template's own raise_exception as an error", () => {
    assert.throws(() => template.render([{ role: 'assistant', content: 'x' }]), /alternate/);
  });

  it('leaves messages alone when there is no system message', () => {
    const m: ChatMessage[] = [{ role: 'user', content: 'a' }];
    assert.deepEqual(foldSystemMessages(m), m);
  });

  it('tokenizes the rendered prompt with exactly one BOS', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'localmoe-tok-'));
    try {
      writeStandInTokenizer(dir);
      const tok = ModelTokenizer.load(dir);
      const t = ChatTemplate.fromConfig(tok.config, tok.bosToken, tok.eosToken, dir);
      const ids = tok.encode(t.render([{ role: 'user', content: 'def fibonacci(n):' }]), {
        bos: false,
      });
      assert.equal(ids[0], 1);
      assert.equal(ids.filter((i) => i === 1).length, 1);
      assert.equal(tok.decode(ids), '[INST] def fibonacci(n): [/INST]');
      // DESIGN.md's reference ids for this string (Mistral/Mixtral vocabulary).
      assert.deepEqual(
        tok.encode('def fibonacci(n):', { bos: true }),
        [1, 801, 16182, 266, 28127, 28732, 28711, 1329],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('fitChat', () => {
  const encode = (messages: readonly ChatMessage[]) =>
    Array.from(messages.map((m) => `${m.role}:${m.content};`).join(''), () => 0);

  it('drops the oldest user/assistant pair first and keeps system messages', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'sys' },
      { role: 'user', content: 'old question' },
      { role: 'assistant', content: 'old answer' },
      { role: 'user', content: 'new' },
    ];
    const full = encode(messages).length;
    const ids = fitChat(messages, encode, full - 1);
    assert.equal(ids.length, encode([messages[0], messages[3]]).length);
  });

  it('throws a clear error when the last message alone does not fit', () => {
    assert.throws(
      () => fitChat([{ role: 'user', content: 'x'.repeat(100) }], encode, 10),
      /shorten the message/,
    );
  });
});
