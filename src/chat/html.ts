// The chat webview's HTML shell. Pure (no `vscode`) so the Content-Security-Policy is unit-tested:
// nothing loads or runs unless it comes from the extension's own files, scripts need the per-load
// nonce, and there are no inline styles or event-handler attributes anywhere.

export interface ChatHtmlParams {
  /** webview.cspSource */
  cspSource: string;
  /** Fresh random value per load. */
  nonce: string;
  scriptUri: string;
  styleUri: string;
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource}`,
    `img-src ${cspSource} data:`,
    `font-src ${cspSource}`,
  ].join('; ');
}

/** Escapes text for a double-quoted HTML attribute. */
export const escapeAttr = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function chatHtml(p: ChatHtmlParams): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(contentSecurityPolicy(p.cspSource, p.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeAttr(p.styleUri)}">
<title>LocalMoE Chat</title>
</head>
<body>
<main id="app" aria-label="LocalMoE chat">
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
</main>
<script nonce="${escapeAttr(p.nonce)}" src="${escapeAttr(p.scriptUri)}"></script>
</body>
</html>`;
}

/** 32 random alphanumerics; the caller passes a crypto-quality random source. */
export function makeNonce(randomBytes: (n: number) => Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(32), (b) => alphabet[b % alphabet.length]).join('');
}
