import * as assert from 'node:assert/strict';
import { ResponseError } from 'vscode-jsonrpc';
import type { ChatParams, CompleteParams, InitializeParams } from '../../src/protocol';
import {
  checkChatParams,
  checkCompleteParams,
  checkInitializeParams,
} from '../../src/sidecar/validate';

const invalid = (pattern: RegExp) => (err: unknown) => {
  assert.ok(err instanceof ResponseError);
  assert.equal(err.code, -32602);
  assert.match(err.message, pattern);
  return true;
};

describe('request param checks', () => {
  const init: InitializeParams = {
    protocolVersion: 1,
    modelPath: '',
    device: 'auto',
    threads: 0,
    maxContext: 2048,
  };
  const complete: CompleteParams = {
    prefix: 'a',
    suffix: '',
    languageId: 'c',
    streamId: 's',
    maxTokens: 8,
  };
  const chat: ChatParams = {
    messages: [{ role: 'user', content: 'hi' }],
    streamId: 's',
    maxTokens: 8,
  };

  it('accepts well-formed params (offload included)', () => {
    checkInitializeParams({
      ...init,
      offload: { vramBudgetBytes: 0, cachePolicy: 'lru', speculativeLoading: true },
    });
    checkCompleteParams({ ...complete, stop: ['\n'], temperature: 0.2, timeBudgetMs: 500 });
    checkChatParams(chat);
  });

  it('names the bad field', () => {
    assert.throws(
      () => checkInitializeParams({ ...init, modelPath: 3 as never }),
      invalid(/modelPath/),
    );
    assert.throws(
      () =>
        checkInitializeParams({
          ...init,
          offload: { vramBudgetBytes: 0, cachePolicy: 'fifo' as never, speculativeLoading: true },
        }),
      invalid(/cachePolicy/),
    );
    assert.throws(() => checkCompleteParams({ ...complete, maxTokens: -1 }), invalid(/maxTokens/));
    assert.throws(() => checkCompleteParams({ ...complete, stop: [1 as never] }), invalid(/stop/));
    assert.throws(
      () => checkCompleteParams({ ...complete, prefix: undefined as never }),
      invalid(/prefix/),
    );
    assert.throws(() => checkChatParams({ ...chat, messages: [] }), invalid(/messages/));
    assert.throws(
      () => checkChatParams({ ...chat, messages: [{ role: 'tool' as never, content: 'x' }] }),
      invalid(/role/),
    );
    assert.throws(() => checkChatParams(null as never), invalid(/object/));
  });
});
