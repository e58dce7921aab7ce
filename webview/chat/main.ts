// The chat webview's script. Talks to the extension only through the typed messages of
// src/chat/messages.ts. All text goes into the DOM with textContent, except the assistant's
// markdown, which goes through the sanitising renderer (render.ts). Buttons are built with DOM
// calls after sanitising, so the sanitiser can forbid <button> in model output.
import DOMPurify from 'dompurify';
import './chat.css';
import type {
  ChatTurn,
  ContextOffer,
  EngineAvailability,
  FromWebview,
  ToWebview,
} from '../../src/chat/messages';
import { createRenderer } from './render';

interface VsCodeApi {
  postMessage(message: FromWebview): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

interface ViewState {
  draft: string;
  includeContext: boolean;
}

const vscode = acquireVsCodeApi();
const render = createRenderer(DOMPurify);

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const messages = $<HTMLDivElement>('messages');
const form = $<HTMLFormElement>('composer');
const input = $<HTMLTextAreaElement>('input');
const sendButton = $<HTMLButtonElement>('send');
const stopButton = $<HTMLButtonElement>('stop');
const newChatButton = $<HTMLButtonElement>('new-chat');
const contextRow = $<HTMLLabelElement>('context-row');
const contextCheckbox = $<HTMLInputElement>('include-context');
const contextLabel = $<HTMLSpanElement>('context-label');
const banner = $<HTMLDivElement>('engine-banner');

const saved = (vscode.getState() ?? {}) as Partial<ViewState>;
input.value = saved.draft ?? '';
contextCheckbox.checked = saved.includeContext ?? true;

let generating = false;
let streamText = '';
let streamBody: HTMLDivElement | undefined;
let renderQueued = false;

function saveState(): void {
  const state: ViewState = { draft: input.value, includeContext: contextCheckbox.checked };
  vscode.setState(state);
}

function setGenerating(on: boolean): void {
  generating = on;
  stopButton.hidden = !on;
  sendButton.disabled = on;
  messages.setAttribute('aria-busy', String(on));
}

function codeLanguage(code: HTMLElement): string {
  const cls = [...code.classList].find((c) => c.startsWith('language-'));
  return cls ? cls.slice('language-'.length) : '';
}

function button(label: string, aria: string, onClick: () => void): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.setAttribute('aria-label', aria);
  b.className = 'code-action';
  b.addEventListener('click', onClick);
  return b;
}

/** Adds Copy / Insert / New File buttons to each code block of a rendered message. */
function decorateCodeBlocks(container: HTMLElement): void {
  for (const pre of container.querySelectorAll('pre')) {
    const code = pre.querySelector('code');
    if (!code || pre.parentElement?.classList.contains('code-block')) continue;
    const wrapper = document.createElement('div');
    wrapper.className = 'code-block';
    const bar = document.createElement('div');
    bar.className = 'code-actions';
    bar.setAttribute('role', 'toolbar');
    const lang = codeLanguage(code);
    const langLabel = document.createElement('span');
    langLabel.className = 'code-lang';
    langLabel.textContent = lang;
    const text = (): string => code.textContent ?? '';
    bar.append(
      langLabel,
      button('Copy', 'Copy code', () => vscode.postMessage({ type: 'copyCode', code: text() })),
      button('Insert', 'Insert code at cursor', () =>
        vscode.postMessage({ type: 'insertCode', code: text() }),
      ),
      button('New File', 'Open code in a new file', () =>
        vscode.postMessage({ type: 'newFileWithCode', code: text(), language: lang }),
      ),
    );
    pre.replaceWith(wrapper);
    wrapper.append(bar, pre);
  }
}

function turnElement(turn: ChatTurn): { el: HTMLDivElement; body: HTMLDivElement } {
  const el = document.createElement('div');
  el.className = `turn ${turn.role}`;
  const who = document.createElement('div');
  who.className = 'who';
  who.textContent = turn.role === 'user' ? 'You' : 'LocalMoE';
  el.append(who);
  const body = document.createElement('div');
  body.className = 'body';
  if (turn.role === 'user') {
    body.textContent = turn.text;
    if (turn.contextLabel) {
      const ctx = document.createElement('div');
      ctx.className = 'context-note';
      ctx.textContent = `with ${turn.contextLabel}`;
      el.append(ctx);
    }
  } else {
    body.innerHTML = render(turn.text); // sanitised: see render.ts
    decorateCodeBlocks(body);
  }
  el.append(body);
  if (turn.role === 'assistant') el.append(footer(turn));
  return { el, body };
}

function footer(turn: ChatTurn): HTMLDivElement {
  const f = document.createElement('div');
  f.className = 'meta';
  const bits: string[] = [];
  if (turn.finishReason && turn.finishReason !== 'stop') bits.push(`stopped: ${turn.finishReason}`);
  if (turn.tokensPerSecond) bits.push(`${turn.tokensPerSecond.toFixed(1)} tok/s`);
  f.textContent = bits.join(' · ');
  return f;
}

function scrollToEnd(): void {
  messages.scrollTop = messages.scrollHeight;
}

function showTurns(turns: ChatTurn[]): void {
  messages.replaceChildren(...turns.map((t) => turnElement(t).el));
  scrollToEnd();
}

function showOffer(offer: ContextOffer | null): void {
  contextRow.hidden = !offer;
  contextLabel.textContent = offer
    ? `Include ${offer.kind === 'selection' ? 'selection' : 'file'}: ${offer.label}`
    : '';
}

function showEngine(engine: EngineAvailability, message: string): void {
  banner.hidden = engine === 'ready';
  banner.replaceChildren();
  if (engine === 'ready') return;
  const text = document.createElement('span');
  text.textContent = message;
  banner.append(text);
  if (engine === 'unavailable') {
    banner.append(
      button('Restart', 'Restart the engine', () => vscode.postMessage({ type: 'restartEngine' })),
      button('Show Logs', 'Show LocalMoE logs', () => vscode.postMessage({ type: 'showLogs' })),
    );
  }
}

// Re-rendering the whole answer per chunk keeps markdown correct (an open fence closes later);
// batching to one render per frame keeps it cheap.
function queueStreamRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    if (!streamBody) return;
    streamBody.innerHTML = render(streamText); // sanitised: see render.ts
    decorateCodeBlocks(streamBody);
    scrollToEnd();
  });
}

function showError(message: string): void {
  const el = document.createElement('div');
  el.className = 'turn error';
  el.setAttribute('role', 'alert');
  el.textContent = message;
  messages.append(el);
  scrollToEnd();
}

const handlers: { [K in ToWebview['type']]: (m: Extract<ToWebview, { type: K }>) => void } = {
  init: (m) => {
    showTurns(m.turns);
    showOffer(m.offer);
    showEngine(m.engine, m.engineMessage);
    setGenerating(false);
  },
  offer: (m) => showOffer(m.offer),
  engine: (m) => showEngine(m.engine, m.engineMessage),
  userTurn: (m) => {
    messages.append(turnElement(m.turn).el);
    scrollToEnd();
  },
  assistantStart: () => {
    streamText = '';
    const { el, body } = turnElement({ role: 'assistant', text: '' });
    el.classList.add('streaming');
    streamBody = body;
    messages.append(el);
    setGenerating(true);
  },
  assistantDelta: (m) => {
    streamText += m.delta;
    queueStreamRender();
  },
  assistantEnd: (m) => {
    const streaming = streamBody?.parentElement;
    streamBody = undefined;
    const { el } = turnElement(m.turn);
    if (streaming) streaming.replaceWith(el);
    else messages.append(el);
    setGenerating(false);
    scrollToEnd();
  },
  error: (m) => {
    streamBody?.parentElement?.remove();
    streamBody = undefined;
    setGenerating(false);
    showError(m.message);
  },
  cleared: () => {
    messages.replaceChildren();
    setGenerating(false);
  },
};

window.addEventListener('message', (event: MessageEvent<ToWebview>) => {
  const m = event.data;
  const handler = handlers[m?.type] as ((msg: ToWebview) => void) | undefined;
  handler?.(m);
});

function send(): void {
  const text = input.value.trim();
  if (!text || generating) return;
  vscode.postMessage({
    type: 'send',
    text,
    includeContext: !contextRow.hidden && contextCheckbox.checked,
  });
  input.value = '';
  saveState();
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  send();
});
input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    send();
  }
});
input.addEventListener('input', saveState);
contextCheckbox.addEventListener('change', saveState);
stopButton.addEventListener('click', () => vscode.postMessage({ type: 'stop' }));
newChatButton.addEventListener('click', () => vscode.postMessage({ type: 'newChat' }));
window.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && generating) vscode.postMessage({ type: 'stop' });
});

vscode.postMessage({ type: 'ready' });
input.focus();
