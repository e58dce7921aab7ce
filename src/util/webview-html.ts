// The HTML document every LocalMoE webview (chat view, benchmark panel) is served in. Pure (no
// `vscode`) so the Content-Security-Policy is unit-tested: nothing loads or runs unless it comes
// from the extension's own files, scripts need the per-load nonce, and there are no inline styles
// or event-handler attributes anywhere.

export interface WebviewHtmlParams {
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

/** The document: CSP, the stylesheet, `main` (trusted markup of ours) and the nonce'd script. */
export function webviewDocument(p: WebviewHtmlParams, title: string, main: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(contentSecurityPolicy(p.cspSource, p.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeAttr(p.styleUri)}">
<title>${escapeAttr(title)}</title>
</head>
<body>
${main}
<script nonce="${escapeAttr(p.nonce)}" src="${escapeAttr(p.scriptUri)}"></script>
</body>
</html>`;
}

/** 32 random alphanumerics; the caller passes a crypto-quality random source. */
export function makeNonce(randomBytes: (n: number) => Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(32), (b) => alphabet[b % alphabet.length]).join('');
}
