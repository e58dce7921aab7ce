// Markdown → safe HTML for model output, the only place the chat view uses innerHTML.
// Two independent walls: markdown-it with `html: false` (raw HTML in the text becomes literal text)
// and a link validator that accepts only http(s)/mailto; then DOMPurify on the produced HTML with
// images, forms, styles and data attributes forbidden. Takes the DOMPurify instance as a parameter
// so unit tests run it in node against a jsdom window.
import MarkdownIt from 'markdown-it';
import hljs from 'highlight.js/lib/common';
import type { Config, DOMPurify } from 'dompurify';

const SAFE_LINK = /^(?:https?:|mailto:)/i;

export const PURIFY_CONFIG: Config = {
  ALLOWED_URI_REGEXP: SAFE_LINK,
  FORBID_TAGS: [
    'style',
    'img',
    'form',
    'input',
    'button',
    'textarea',
    'select',
    'iframe',
    'object',
    'embed',
    'svg',
    'math',
    'video',
    'audio',
  ],
  FORBID_ATTR: ['style', 'srcset'],
  ALLOW_DATA_ATTR: false,
};

export function createMarkdown(): InstanceType<typeof MarkdownIt> {
  const md = new MarkdownIt({
    html: false,
    linkify: false,
    typographer: false,
    highlight: (code, lang) => {
      const language = lang && hljs.getLanguage(lang) ? lang : undefined;
      if (!language) return ''; // markdown-it escapes the code itself
      try {
        return hljs.highlight(code, { language, ignoreIllegals: true }).value;
      } catch {
        return '';
      }
    },
  });
  md.validateLink = (url: string): boolean => SAFE_LINK.test(url.trim());
  return md;
}

export type Render = (markdown: string) => string;

export function createRenderer(purify: DOMPurify): Render {
  const md = createMarkdown();
  return (markdown) =>
    purify.sanitize(md.render(markdown), { ...PURIFY_CONFIG, RETURN_TRUSTED_TYPE: false });
}
