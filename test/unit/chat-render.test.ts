// Model output must never run script in the chat view: hostile markdown through the real renderer
// (markdown-it + DOMPurify on a jsdom window), then the resulting DOM is inspected.
import * as assert from 'node:assert/strict';
import createDOMPurify from 'dompurify';
import { createRequire } from 'node:module';
import { createMarkdown, createRenderer } from '../../webview/chat/render';

// jsdom is loaded from node_modules at run time: bundled by esbuild it loses its worker file.
const { JSDOM } = createRequire(__filename)('jsdom') as typeof import('jsdom');
const { window } = new JSDOM('<!DOCTYPE html><body></body>');
const render = createRenderer(
  createDOMPurify(window as unknown as Parameters<typeof createDOMPurify>[0]),
);

function dom(html: string): HTMLElement {
  const div = window.document.createElement('div');
  div.innerHTML = html;
  return div as unknown as HTMLElement;
}

/** Fails if anything in the tree could execute or load: script-ish tags, on* handlers, bad URLs. */
function assertInert(html: string): void {
  const root = dom(html);
  for (const el of root.querySelectorAll('*')) {
    const tag = el.tagName.toLowerCase();
    assert.ok(
      ![
        'script',
        'iframe',
        'object',
        'embed',
        'img',
        'svg',
        'style',
        'form',
        'button',
        'input',
        'meta',
        'link',
        'base',
      ].includes(tag),
      `tag <${tag}> in ${html}`,
    );
    for (const attr of el.getAttributeNames()) {
      assert.ok(!attr.startsWith('on'), `event handler ${attr} in ${html}`);
      assert.ok(attr !== 'style', `style attribute in ${html}`);
      if (attr === 'href' || attr === 'src' || attr === 'action' || attr === 'formaction') {
        assert.match(el.getAttribute(attr) ?? '', /^(https?:|mailto:)/i, `${attr} in ${html}`);
      }
    }
  }
}

const hostile = [
  '<script>alert(1)</script>',
  'hello <img src=x onerror=alert(1)>',
  '<svg onload=alert(1)>',
  '[click](javascript:alert(1))',
  '[click](JaVaScRiPt:alert(1))',
  '[click]( javascript:alert(1))',
  '[x](vbscript:msgbox(1))',
  '[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
  '![img](https://evil.example/track.png)',
  '<a href="javascript:alert(1)">raw link</a>',
  '<iframe src="https://evil.example"></iframe>',
  '<div style="background:url(javascript:alert(1))">styled</div>',
  '<form action="https://evil.example"><button>go</button></form>',
  '```html\n<script>alert(1)</script>\n```',
  '`<img src=x onerror=alert(1)>`',
  '<details open ontoggle=alert(1)>',
  '[a](<javascript:alert(1)>)',
  '<<script>script>alert(1)<</script>/script>',
];

describe('chat markdown rendering', () => {
  for (const md of hostile) {
    it(`neutralises ${JSON.stringify(md).slice(0, 60)}`, () => assertInert(render(md)));
  }

  it('shows raw HTML as text instead of interpreting it', () => {
    const root = dom(render('<b>bold?</b> <script>alert(1)</script>'));
    assert.equal(root.querySelector('b'), null);
    assert.match(root.textContent ?? '', /<script>alert\(1\)<\/script>/);
  });

  it('keeps http(s) links and drops javascript: ones', () => {
    const ok = dom(render('[docs](https://example.com/a)'));
    assert.equal(ok.querySelector('a')?.getAttribute('href'), 'https://example.com/a');
    const bad = dom(render('[x](javascript:alert(1))'));
    assert.equal(bad.querySelector('a[href]'), null);
  });

  it('highlights fenced code by language and escapes it', () => {
    const root = dom(render('```ts\nconst a: number = 1 < 2 ? 1 : 2;\n```'));
    const code = root.querySelector('pre > code');
    assert.ok(code);
    assert.match(code.className, /language-ts/);
    assert.ok(code.querySelector('.hljs-keyword'), 'has highlight spans');
    assert.equal(code.textContent, 'const a: number = 1 < 2 ? 1 : 2;\n');
  });

  it('escapes code in unknown languages', () => {
    const root = dom(render('```nosuchlang\n<script>x</script>\n```'));
    assert.equal(root.querySelector('pre > code')?.textContent, '<script>x</script>\n');
    assertInert(root.innerHTML);
  });

  it('markdown-it alone already refuses raw HTML and bad links (first wall)', () => {
    const md = createMarkdown();
    assert.doesNotMatch(md.render('<script>alert(1)</script>'), /<script>/);
    assert.doesNotMatch(md.render('[x](javascript:alert(1))'), /href="javascript/);
  });
});
