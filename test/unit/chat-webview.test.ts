// The chat webview's real script (webview/chat/main.ts, bundled here with esbuild) in a jsdom page
// built from the real HTML shell: typed messages both ways, keyboard behaviour, code-block buttons,
// and hostile model output staying inert in the live DOM while it streams.
import * as assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { chatHtml } from '../../src/chat/html';
import type { FromWebview, ToWebview } from '../../src/chat/messages';
import { repoRoot } from './helpers';

// Loaded at run time from node_modules (bundled, jsdom loses a worker file and esbuild its binary).
const load = createRequire(__filename);
const { JSDOM } = load('jsdom') as typeof import('jsdom');
const esbuild = load('esbuild') as typeof import('esbuild');

let bundle: string;

interface Page {
  doc: Document;
  posted: FromWebview[];
  send(message: ToWebview): void;
  byId<T extends HTMLElement>(id: string): T;
  key(el: Element, key: string, shiftKey?: boolean): void;
}

function open(savedState?: unknown): Page {
  const html = chatHtml({
    cspSource: 'vscode-resource:',
    nonce: 'n0',
    scriptUri: 'chat.js',
    styleUri: 'chat.css',
  })
    .replace(/<script[^>]*><\/script>/, '')
    .replace(/<link[^>]*>/, '');
  const dom = new JSDOM(html, { runScripts: 'outside-only', pretendToBeVisual: true });
  const posted: FromWebview[] = [];
  let state = savedState;
  Object.assign(dom.window, {
    acquireVsCodeApi: () => ({
      // Cloned, as the real postMessage does (and out of the jsdom realm, for deepEqual).
      postMessage: (m: FromWebview) => posted.push(JSON.parse(JSON.stringify(m)) as FromWebview),
      getState: () => state,
      setState: (s: unknown) => (state = s),
    }),
  });
  dom.window.eval(bundle);
  const w = dom.window;
  return {
    doc: w.document as unknown as Document,
    posted,
    send: (data) => w.dispatchEvent(new w.MessageEvent('message', { data })),
    byId: <T extends HTMLElement>(id: string) => w.document.getElementById(id) as unknown as T,
    key: (el, key, shiftKey = false) =>
      el.dispatchEvent(
        new w.KeyboardEvent('keydown', { key, shiftKey, bubbles: true, cancelable: true }),
      ),
  };
}

const frame = () => new Promise((r) => setTimeout(r, 40)); // > one jsdom animation frame (16 ms)

function assertNoActiveContent(doc: Document): void {
  const messages = doc.getElementById('messages');
  assert.ok(messages);
  for (const el of messages.querySelectorAll('*')) {
    const tag = el.tagName.toLowerCase();
    assert.ok(
      !['script', 'img', 'iframe', 'svg', 'style', 'form', 'object', 'embed'].includes(tag),
      `<${tag}> in the DOM`,
    );
    for (const a of el.getAttributeNames()) {
      assert.ok(!a.startsWith('on'), `${a} attribute on <${tag}>`);
      if (a === 'href') assert.match(el.getAttribute(a) ?? '', /^(https?:|mailto:)/);
    }
  }
}

describe('chat webview script (jsdom)', function () {
  this.timeout(20000);
  before(() => {
    const out = esbuild.buildSync({
      entryPoints: [path.join(repoRoot(), 'webview/chat/main.ts')],
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'browser',
      target: 'es2022',
      loader: { '.css': 'empty' },
      outfile: 'chat.js',
      logLevel: 'silent',
    });
    bundle = out.outputFiles.find((f) => f.path.endsWith('.js'))?.text ?? '';
    assert.ok(bundle.length > 1000);
  });

  it('says ready, then renders history: user text as text, assistant markdown with code buttons', () => {
    const p = open();
    assert.deepEqual(p.posted, [{ type: 'ready' }]);
    p.send({
      type: 'init',
      turns: [
        { role: 'user', text: '<img src=x onerror=alert(1)> hi', contextLabel: 'a.ts:1-2' },
        { role: 'assistant', text: 'Sure:\n\n```python\nprint(1)\n```', tokensPerSecond: 3.25 },
      ],
      offer: { kind: 'file', label: 'a.ts' },
      engine: 'ready',
      engineMessage: '',
    });
    const user = p.doc.querySelector('.turn.user .body');
    assert.equal(user?.textContent, '<img src=x onerror=alert(1)> hi');
    assert.match(p.doc.querySelector('.turn.user .context-note')?.textContent ?? '', /a\.ts:1-2/);
    const buttons = [...p.doc.querySelectorAll('.code-actions button')].map((b) =>
      b.getAttribute('aria-label'),
    );
    assert.deepEqual(buttons, ['Copy code', 'Insert code at cursor', 'Open code in a new file']);
    assert.match(p.doc.querySelector('.turn.assistant .meta')?.textContent ?? '', /3\.3 tok\/s/);
    assertNoActiveContent(p.doc);

    (p.doc.querySelector('.code-actions button') as HTMLButtonElement).click();
    (p.doc.querySelectorAll('.code-actions button')[2] as HTMLButtonElement).click();
    assert.deepEqual(p.posted.slice(1), [
      { type: 'copyCode', code: 'print(1)\n' },
      { type: 'newFileWithCode', code: 'print(1)\n', language: 'python' },
    ]);
    assert.equal(p.byId<HTMLLabelElement>('context-row').hidden, false);
  });

  it('Enter sends (with the context choice), Shift+Enter does not', () => {
    const p = open();
    p.send({ type: 'offer', offer: { kind: 'selection', label: 'a.ts:3-4' } });
    const input = p.byId<HTMLTextAreaElement>('input');
    input.value = 'line one';
    p.key(input, 'Enter', true);
    assert.equal(p.posted.length, 1, 'Shift+Enter only adds a newline');
    p.key(input, 'Enter');
    assert.deepEqual(p.posted[1], { type: 'send', text: 'line one', includeContext: true });
    assert.equal(input.value, '');
    input.value = '   ';
    p.key(input, 'Enter');
    assert.equal(p.posted.length, 2, 'blank messages are not sent');
  });

  it('streams hostile markdown without ever creating active content; Stop is offered while generating', async () => {
    const p = open();
    p.send({ type: 'userTurn', turn: { role: 'user', text: 'q' } });
    p.send({ type: 'assistantStart' });
    assert.equal(p.byId<HTMLButtonElement>('stop').hidden, false);
    assert.equal(p.byId<HTMLButtonElement>('send').disabled, true);
    for (const delta of [
      '<img src=x onerror=alert(1)>',
      ' [x](javascript:alert(1))',
      '\n\n<script>alert(2)</script>',
      '\n\n```js\nlet a = 1;',
    ]) {
      p.send({ type: 'assistantDelta', delta });
      await frame();
      assertNoActiveContent(p.doc);
    }
    assert.ok(
      p.doc.querySelector('.turn.streaming .code-block'),
      'an open fence renders as code while streaming',
    );
    p.byId<HTMLButtonElement>('stop').click();
    assert.deepEqual(p.posted.at(-1), { type: 'stop' });
    p.send({
      type: 'assistantEnd',
      turn: { role: 'assistant', text: 'done <b>x</b>', finishReason: 'cancelled' },
    });
    assert.equal(p.doc.querySelector('.turn.streaming'), null);
    assert.equal(p.byId<HTMLButtonElement>('stop').hidden, true);
    assert.match(p.doc.querySelector('.turn.assistant .body')?.textContent ?? '', /done <b>x<\/b>/);
    assert.match(
      p.doc.querySelector('.turn.assistant .meta')?.textContent ?? '',
      /stopped: cancelled/,
    );
  });

  it('shows an unavailable engine with Restart and Show Logs, and errors as alerts', () => {
    const p = open();
    p.send({
      type: 'engine',
      engine: 'unavailable',
      engineMessage: 'Engine not running: config.json not found',
    });
    const banner = p.byId<HTMLDivElement>('engine-banner');
    assert.equal(banner.hidden, false);
    assert.match(banner.textContent ?? '', /config\.json not found/);
    (banner.querySelector('button[aria-label="Restart the engine"]') as HTMLButtonElement).click();
    assert.deepEqual(p.posted.at(-1), { type: 'restartEngine' });
    p.send({ type: 'error', message: 'boom <i>x</i>' });
    const alert = p.doc.querySelector('[role="alert"]');
    assert.equal(alert?.textContent, 'boom <i>x</i>');
    p.send({ type: 'engine', engine: 'ready', engineMessage: '' });
    assert.equal(banner.hidden, true);
  });

  it('keeps the draft in webview state', () => {
    const p = open({ draft: 'half a question', includeContext: false });
    assert.equal(p.byId<HTMLTextAreaElement>('input').value, 'half a question');
    assert.equal(p.byId<HTMLInputElement>('include-context').checked, false);
  });
});
