import * as assert from 'node:assert/strict';
import { contentSecurityPolicy, chatHtml, makeNonce } from '../../src/chat/html';
import { parseFromWebview } from '../../src/chat/messages';
import {
  ChatSession,
  HISTORY_KEY,
  type ChatBackend,
  type KeyValueStore,
} from '../../src/chat/session';
import type { ChatParams, GenerationResult } from '../../src/protocol';
import type { CancelSignal } from '../../src/util/cancel';

class MemoryStore implements KeyValueStore {
  data = new Map<string, unknown>();
  get<T>(key: string): T | undefined {
    return this.data.get(key) as T | undefined;
  }
  async update(key: string, value: unknown): Promise<void> {
    this.data.set(key, value);
  }
}

class FakeChat implements ChatBackend {
  params: ChatParams[] = [];
  chunks = ['Hel', 'lo'];
  chunkDelayMs = 0;
  async chat(
    params: ChatParams,
    onDelta: (d: string) => void,
    signal: CancelSignal,
  ): Promise<GenerationResult> {
    this.params.push(params);
    let text = '';
    for (const c of this.chunks) {
      if (this.chunkDelayMs) await new Promise((r) => setTimeout(r, this.chunkDelayMs));
      if (signal.isCancellationRequested) throw new Error('Request cancelled');
      text += c;
      onDelta(c);
    }
    return {
      text,
      finishReason: 'stop',
      promptTokens: 3,
      completionTokens: 2,
      ttftMs: 1,
      tokensPerSecond: 9,
    };
  }
}

const settings = () => ({ maxTokens: 50, temperature: 0.3 });

describe('chat session', () => {
  it('streams an answer, stores the pair, and sends history on the next turn', async () => {
    const store = new MemoryStore();
    const backend = new FakeChat();
    const s = new ChatSession(store, backend, settings);
    const deltas: string[] = [];
    const { assistant } = await s.send('hi', undefined, (d) => deltas.push(d));
    assert.deepEqual(deltas, ['Hel', 'lo']);
    assert.equal(assistant.text, 'Hello');
    assert.equal(assistant.tokensPerSecond, 9);
    assert.equal((store.get(HISTORY_KEY) as unknown[]).length, 2);
    await s.send('again', undefined, () => undefined);
    const msgs = backend.params[1].messages;
    assert.deepEqual(
      msgs.map((m) => m.role),
      ['system', 'user', 'assistant', 'user'],
    );
    assert.equal(backend.params[1].maxTokens, 50);
    assert.equal(backend.params[1].temperature, 0.3);
  });

  it('restores history from the store (per workspace) and clears it', async () => {
    const store = new MemoryStore();
    store.data.set(HISTORY_KEY, [
      { role: 'user', text: 'old' },
      { role: 'assistant', text: 'ans' },
      { bogus: 1 },
    ]);
    const s = new ChatSession(store, new FakeChat(), settings);
    assert.equal(s.turns.length, 2);
    await s.clear();
    assert.equal(s.turns.length, 0);
    assert.deepEqual(store.get(HISTORY_KEY), []);
  });

  it('attaches context in a fence the code cannot close', () => {
    const msgs = ChatSession.buildMessages([], 'explain', {
      label: 'a.md:1-2',
      languageId: 'markdown',
      text: 'x\n```\ny',
    });
    const content = msgs[msgs.length - 1].content;
    assert.match(content, /^explain\n\nContext \(a\.md:1-2\):\n````markdown\nx\n```\ny\n````$/);
  });

  it('trims old history to the budget and starts with a user turn', () => {
    const long = 'z'.repeat(5000);
    const history = [
      { role: 'user' as const, text: long },
      { role: 'assistant' as const, text: long },
      { role: 'user' as const, text: long },
      { role: 'assistant' as const, text: 'short' },
    ];
    const msgs = ChatSession.buildMessages(history, 'q');
    assert.deepEqual(
      msgs.map((m) => m.role),
      ['system', 'user', 'assistant', 'user'],
    );
  });

  it('Stop keeps the partial answer marked cancelled; one generation at a time', async () => {
    const backend = new FakeChat();
    backend.chunks = ['a', 'b', 'c', 'd'];
    backend.chunkDelayMs = 10;
    const s = new ChatSession(new MemoryStore(), backend, settings);
    const p = s.send('go', undefined, () => undefined);
    await assert.rejects(
      s.send('again', undefined, () => undefined),
      /still being generated/,
    );
    setTimeout(() => s.stop(), 25);
    const { assistant } = await p;
    assert.equal(assistant.finishReason, 'cancelled');
    assert.ok(assistant.text.length >= 1 && assistant.text.length < 4, assistant.text);
    assert.equal(s.busy, false);
  });

  it('leaves no dangling turn when the request fails', async () => {
    const s = new ChatSession(
      new MemoryStore(),
      { chat: () => Promise.reject(new Error('engine down')) },
      settings,
    );
    await assert.rejects(
      s.send('x', undefined, () => undefined),
      /engine down/,
    );
    assert.equal(s.turns.length, 0);
  });
});

describe('chat webview messages and HTML', () => {
  it('accepts well-formed messages and drops others', () => {
    assert.deepEqual(parseFromWebview({ type: 'send', text: 'hi', includeContext: true }), {
      type: 'send',
      text: 'hi',
      includeContext: true,
    });
    assert.deepEqual(parseFromWebview({ type: 'stop', extra: 1 }), { type: 'stop' });
    assert.equal(parseFromWebview({ type: 'send', text: 5 }), undefined);
    assert.equal(parseFromWebview({ type: 'eval', code: 'x' }), undefined);
    assert.equal(parseFromWebview(null), undefined);
    assert.equal(parseFromWebview('send'), undefined);
  });

  it('has a strict CSP with a nonce and no inline script or style', () => {
    const nonce = makeNonce((n) => new Uint8Array(n).map((_, i) => i * 7));
    assert.match(nonce, /^[A-Za-z0-9]{32}$/);
    const csp = contentSecurityPolicy('vscode-webview://abc', nonce);
    assert.equal(
      csp,
      `default-src 'none'; script-src 'nonce-${nonce}'; style-src vscode-webview://abc; img-src vscode-webview://abc data:; font-src vscode-webview://abc`,
    );
    const html = chatHtml({
      cspSource: 'vscode-webview://abc',
      nonce,
      scriptUri: 'https://x/chat.js',
      styleUri: 'https://x/chat.css',
    });
    assert.ok(html.includes(`<script nonce="${nonce}" src="https://x/chat.js"></script>`));
    assert.equal((html.match(/<script/g) ?? []).length, 1);
    assert.doesNotMatch(html, /style=|\son[a-z]+=/);
    for (const label of ['Message LocalMoE', 'Send message', 'Stop generating', 'New chat']) {
      assert.ok(html.includes(`aria-label="${label}"`), label);
    }
  });
});
