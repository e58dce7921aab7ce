// The chat webview's markup, in the shared webview document (src/util/webview-html.ts: strict
// CSP, nonce'd script, no inline styles or handlers).
import { webviewDocument, type WebviewHtmlParams } from '../util/webview-html';

export { contentSecurityPolicy, escapeAttr, makeNonce } from '../util/webview-html';
export type ChatHtmlParams = WebviewHtmlParams;

export function chatHtml(p: ChatHtmlParams): string {
  return webviewDocument(
    p,
    'LocalMoE Chat',
    `<main id="app" aria-label="LocalMoE chat">
  <div id="engine-banner" role="status" hidden></div>
  <div id="messages" role="log" aria-live="polite" aria-label="Conversation"></div>
  <form id="composer" aria-label="Send a message">
    <label id="context-row" hidden><input type="checkbox" id="include-context" checked> <span id="context-label"></span></label>
    <textarea id="input" rows="3" aria-label="Message LocalMoE" placeholder="Ask LocalMoE… (Enter to send, Shift+Enter for a new line)"></textarea>
    <div class="composer-actions">
      <button type="submit" id="send" aria-label="Send message">Send</button>
      <button type="button" id="stop" aria-label="Stop generating" hidden>Stop</button>
      <button type="button" id="new-chat" class="secondary" aria-label="New chat">New Chat</button>
    </div>
  </form>
</main>`,
  );
}
