// The product checks, in the order they run. Each takes the shared context
// { page, cs, workspace, artifacts, shot(name), log(msg), state } and throws an Error saying what was expected
// and what was seen. Every check asserts something that is false when the feature is broken.
import fs from 'node:fs';
import path from 'node:path';
import { benchmark, benchmarkCancel } from './bench-check.mjs';
import { descendantsMatching, sleep } from './procs.mjs';
import {
  runCommand,
  openFile,
  statusItem,
  statusText,
  waitForWorkbench,
  waitUntil,
  webviewFrame,
} from './workbench.mjs';

/** "LocalMoE · RAM 1.2 MiB" / "LocalMoE · VRAM 10.2/12.0 GiB · hit 93%": ready, with the engine's memory figure. */
const READY = /^LocalMoE(?!:)\b.*\b(V?RAM) [\d.]+(\/[\d.]+)? ?[KMGT]?i?B\b/;
const isReady = (s) => !!s && READY.test(s.label || s.text);

const nbsp = (s) => s.replace(/\u00a0/g, ' ');

async function workbench(ctx) {
  await ctx.page.goto(`${ctx.cs.url}?folder=${encodeURIComponent(ctx.workspace)}`);
  await waitForWorkbench(ctx.page, 60_000);
  await ctx.shot('workbench');
}

async function activation(ctx) {
  // The status-bar item exists only once the extension's activate() ran.
  await statusItem(ctx.page)
    .first()
    .waitFor({ timeout: 45_000 })
    .catch(() => {
      throw new Error(
        'no LocalMoE status-bar item (id localmoe.localmoe.localmoe.status): the extension did not activate; see code-server.log / browser-console.log',
      );
    });
  const s = await statusText(ctx.page);
  ctx.log(`status bar after activation: "${s?.label}"`);
  await ctx.shot('activation');
}

async function statusReady(ctx) {
  let errorSince = 0;
  const s = await waitUntil(
    async () => {
      const v = await statusText(ctx.page);
      if (isReady(v)) return v;
      // "LocalMoE: error" for 5 s in a row: the engine failed to start; no point waiting longer.
      if (v && /: error\b/.test(v.label)) {
        errorSince ||= Date.now();
        if (Date.now() - errorSince > 5_000) return { failed: v };
      } else errorSince = 0;
      return undefined;
    },
    90_000,
    () =>
      'status bar never showed the engine ready with its memory figure (expected like "LocalMoE · RAM 12.3 MiB")',
  ).catch(async (err) => {
    const now = await statusText(ctx.page);
    throw new Error(`${err.message}; it shows "${now?.label ?? '(no item)'}"`);
  });
  if (s.failed) {
    await statusItem(ctx.page)
      .first()
      .hover()
      .catch(() => {});
    const tip = await ctx.page
      .locator('.monaco-hover, .workbench-hover')
      .first()
      .innerText({ timeout: 5_000 })
      .catch(() => '');
    await ctx.shot('status-error');
    throw new Error(
      `the engine failed to start: the status bar shows "${s.failed.label}"; its tooltip: ${nbsp(tip).replace(/\s+/g, ' ').slice(0, 400)}`,
    );
  }
  ctx.log(`status bar: "${s.label}"`);
  // The tooltip carries the full counter table, cache figure included.
  await statusItem(ctx.page).first().hover();
  const hover = ctx.page
    .locator('.monaco-hover, .workbench-hover')
    .filter({ hasText: 'expert cache hit rate' })
    .first();
  await hover.waitFor({ state: 'visible', timeout: 10_000 }).catch(() => {
    throw new Error(
      'hovering the status-bar item showed no tooltip with the "expert cache hit rate" row',
    );
  });
  const tip = nbsp(await hover.innerText());
  for (const row of ['engine memory', 'expert cache hit rate']) {
    if (!tip.includes(row)) throw new Error(`status tooltip lacks "${row}":\n${tip}`);
  }
  if (!/engine memory\s*\|?\s*[\d.]+ [KMGT]?i?B/.test(tip))
    throw new Error(`status tooltip shows no engine memory figure:\n${tip}`);
  ctx.log(
    `tooltip: ${tip
      .split('\n')
      .filter((l) => /memory|hit rate|Model/.test(l))
      .join(' / ')}`,
  );
  await ctx.shot('status-bar');
  await ctx.page.mouse.move(700, 450);
  await ctx.page.keyboard.press('Escape');
}

async function ghostText(ctx) {
  const { page } = ctx;
  const file = 'fibonacci.py';
  const editor = await openFile(page, file);
  await editor.click();
  await page.keyboard.press('Control+End');
  const typed = '    if n < 2:';
  await page.keyboard.type(typed, { delay: 20 });
  // Monaco shows the suggestion's first line as an inline `.ghost-text-decoration` and further lines
  // as `.ghost-text` spans in a view zone below the cursor line.
  const ghost = page.locator(
    '.monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text-decoration-preview, .monaco-editor .ghost-text',
  );
  // Inline suggestions come on their own after typing; ask explicitly too if they are slow.
  const start = Date.now();
  let triggered = 0;
  while ((await ghost.count()) === 0) {
    if (Date.now() - start > 45_000) {
      await ctx.shot('ghost-text-missing');
      const classes = await page.evaluate(() => [
        ...new Set(
          [...document.querySelectorAll('.monaco-editor [class*="ghost"]')].map((e) => e.className),
        ),
      ]);
      ctx.log(`ghost-like elements in the editor: ${JSON.stringify(classes)}`);
      throw new Error(
        `no ghost text (.ghost-text-decoration / .ghost-text) in ${file} 45 s after typing "${typed.trim()}" (triggered ${triggered}x)`,
      );
    }
    if (Date.now() - start > 4_000 * (triggered + 1)) {
      await runCommand(page, 'editor.action.inlineSuggest.trigger');
      triggered++;
    }
    await sleep(200);
  }
  await sleep(300); // let a multi-line suggestion finish rendering
  const suggestion = await page
    .evaluate(() => {
      const inline = [
        ...document.querySelectorAll(
          '.monaco-editor .ghost-text-decoration, .monaco-editor .ghost-text-decoration-preview',
        ),
      ]
        .map((e) => e.textContent ?? '')
        .join('');
      const lines = new Map();
      for (const span of document.querySelectorAll('.monaco-editor .ghost-text')) {
        const line = span.closest('.view-line') ?? span.parentElement;
        lines.set(line, (lines.get(line) ?? '') + (span.textContent ?? ''));
      }
      return [inline, ...lines.values()].join('\n');
    })
    .then(nbsp);
  if (!suggestion.trim()) throw new Error('ghost text appeared but is empty');
  ctx.log(`ghost text: ${JSON.stringify(suggestion)}`);
  await ctx.shot('ghost-text');

  await page.keyboard.press('Tab');
  await waitUntil(
    async () => (await ghost.count()) === 0,
    5_000,
    () => 'ghost text still shown after Tab',
  );
  await runCommand(page, 'workbench.action.files.save');
  const onDisk = path.join(ctx.workspace, file);
  // The file must now end with what was typed + the suggestion (compared without whitespace: the
  // editor may re-indent what it inserts).
  const squash = (t) => t.replace(/\s+/g, '');
  const expected = squash(typed + suggestion);
  await waitUntil(
    () => squash(fs.readFileSync(onDisk, 'utf8')).endsWith(expected),
    10_000,
    () =>
      `after Tab + save, ${file} does not contain the typed text plus the accepted suggestion ${JSON.stringify(typed + suggestion)}; its end:\n${fs.readFileSync(onDisk, 'utf8').split('\n').slice(-6).join('\n')}`,
  );
  await ctx.shot('ghost-text-accepted');
  const samples = Number(process.env.E2E_COMPLETION_SAMPLES ?? 5);
  await moreCompletions(ctx, ghost, samples, (i) => `if n == ${i + 2}:`); // like the typed line above
  const short = await completionTimings(ctx, 'completion-timings.json', file);
  if (samples > 0) await longFileCompletions(ctx, ghost, samples, short.recorded);
}

/**
 * Issue #10, long prompts: the same n sample lines typed at the end of a long real source file
 * (LONG_FILE, models/scripts/check_fixtures_numpy.py copied in by makeWorkspace: > 5,000
 * characters before the cursor, so the prompt's prefix is cut by completion.maxPrefixChars, about
 * 3,400-4,000 characters, ~1,200 tokens). Reports the editor overhead of only these completions; asserts, like the short file, only
 * that at least one was timed with sane figures.
 */
const LONG_FILE = 'check_fixtures_numpy.py';
async function longFileCompletions(ctx, ghost, n, recordedBefore) {
  const { page } = ctx;
  const editor = await openFile(page, LONG_FILE);
  await editor.click();
  await page.keyboard.press('Control+End');
  const before = fs.readFileSync(path.join(ctx.workspace, LONG_FILE), 'utf8').length;
  if (before < 4_000) throw new Error(`${LONG_FILE} has ${before} characters, expected >= 4000`);
  ctx.log(`long file: ${LONG_FILE}, ${before} characters before the cursor`);
  // Statements opening a block, like the short file's: the model answers them with a body (after a
  // complete simple statement it mostly proposes nothing, and each empty line waits 10 s). The file
  // ends with a newline, so the first one starts at column 0; each next one is indented under it.
  await moreCompletions(ctx, ghost, n, (i) => `if ok and worst > ${i + 1}e-3:`);
  await ctx.shot('ghost-text-long-file');
  await completionTimings(ctx, 'completion-timings-long.json', LONG_FILE, recordedBefore);
}

/**
 * E2E_COMPLETION_SAMPLES=n (default 5): n more lines typed, each waiting for ghost text,
 * so that the timing percentiles rest on more than one completion. A line that gets no suggestion
 * is not an error here; the count of timed completions is reported. `line(i)` is the i-th line.
 */
async function moreCompletions(ctx, ghost, n, line) {
  const { page } = ctx;
  for (let i = 0; i < n; i++) {
    await page.keyboard.press('End');
    await page.keyboard.press('Enter');
    await page.keyboard.type(line(i), { delay: 20 });
    await waitUntil(
      async () => (await ghost.count()) > 0,
      10_000,
      () => '',
    ).catch(() => {});
    await runCommand(page, 'editor.action.inlineSuggest.hide');
  }
  if (n > 0) await runCommand(page, 'workbench.action.files.save'); // no dirty editor for later checks
}

/** The extension's LogOutputChannel file(s) ("LocalMoE.log") under the product's user-data dir. */
function localMoeLogs(ctx) {
  const dir = path.join(path.dirname(ctx.workspace), 'user-data', 'logs');
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true })
    .map((f) => path.join(dir, String(f)))
    .filter((f) => /(^|-)LocalMoE\.log$/.test(path.basename(f)));
}

/**
 * Issue #10: what the editor side adds to a completion over the engine's own time. Runs
 * localmoe.completionTimings, which logs its JSON summary at info level, and reads it from the log
 * file. Reports the editor overhead; asserts only that the figures exist and are sane (a wall-clock
 * limit would make the test depend on the CI machine's load). With `recordedBefore` (the `recorded`
 * count of an earlier summary), only the completions timed since then are reported and checked,
 * with their own p50/p90 (nearest rank, as src/completion/timing.ts). Returns the summary.
 */
async function completionTimings(ctx, artifact, file, recordedBefore) {
  const marker = 'completion timings: ';
  const lastSummary = () => {
    const lines = localMoeLogs(ctx).flatMap((f) =>
      fs
        .readFileSync(f, 'utf8')
        .split('\n')
        .filter((l) => l.includes(marker)),
    );
    const last = lines.at(-1);
    return last ? JSON.parse(last.slice(last.indexOf(marker) + marker.length)) : undefined;
  };
  const before = lastSummary();
  await runCommand(ctx.page, 'localmoe.completionTimings');
  const t = await waitUntil(
    () => {
      const s = lastSummary();
      return s && JSON.stringify(s) !== JSON.stringify(before) ? s : undefined;
    },
    15_000,
    () =>
      `no "${marker}…" line in the LocalMoE log after running localmoe.completionTimings (log files: ${localMoeLogs(ctx).join(', ') || 'none'})`,
  );
  const fresh = recordedBefore === undefined ? t.recorded : t.recorded - recordedBefore;
  const recent = t.recent.slice(-Math.min(Math.max(fresh, 0), t.recent.length) || t.recent.length);
  const rank = (values, p) => {
    const sorted = [...values].sort((x, y) => x - y);
    return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1];
  };
  const overhead = recent.map((r) => r.overheadMs);
  const own = {
    file,
    recorded: fresh,
    overheadP50Ms: rank(overhead, 50),
    overheadP90Ms: rank(overhead, 90),
    roundTripP50Ms: rank(
      recent.map((r) => r.roundTripMs),
      50,
    ),
    recent,
  };
  const report = recordedBefore === undefined ? { ...t, file } : own;
  fs.writeFileSync(path.join(ctx.artifacts, artifact), JSON.stringify(report, null, 2));
  if (!(t.recorded >= 1) || !t.recent.length || !(fresh >= 1))
    throw new Error(
      `ghost text was shown in ${file} but no completion there was timed: ${JSON.stringify(t)}`,
    );
  for (const r of recent) {
    const values = [r.roundTripMs, r.engineMs, r.ttftMs, r.overheadMs];
    if (!values.every((v) => Number.isFinite(v) && v >= 0) || r.ttftMs > r.engineMs)
      throw new Error(`implausible completion timing: ${JSON.stringify(r)}`);
  }
  const ms = (v) => `${v.toFixed(1)} ms`;
  ctx.log(
    `completion timing in ${file} over ${recent.length} completion(s): editor overhead p50 ${ms(report.overheadP50Ms)}, ` +
      `p90 ${ms(report.overheadP90Ms)}; round trip p50 ${ms(report.roundTripP50Ms)} ` +
      `(each: ${recent.map((r) => `${ms(r.roundTripMs)} = engine ${ms(r.engineMs)} + editor ${ms(r.overheadMs)}`).join('; ')})`,
  );
  return t;
}

async function openChat(ctx) {
  const { page } = ctx;
  await runCommand(page, 'workbench.action.focusActiveEditorGroup');
  await runCommand(page, 'localmoe.chat.focus');
  const frame = await waitUntil(
    async () => {
      const f = webviewFrame(page);
      if (!f) return undefined;
      return (await f
        .locator('#input')
        .count()
        .catch(() => 0))
        ? f
        : undefined;
    },
    30_000,
    () => 'the LocalMoE chat view (localmoe.chat) did not open or its webview has no #input',
  );
  // The webview script sets aria-busy on #messages when the extension's `init` message arrived:
  // only then does it take input (before, its start-up would clear a typed draft).
  await frame
    .locator('#messages[aria-busy="false"]')
    .waitFor({ state: 'attached', timeout: 30_000 })
    .catch(() => {
      throw new Error(
        'the chat webview never got its init message from the extension (#messages has no aria-busy="false")',
      );
    });
  return frame;
}

/**
 * Records, inside the webview, the streamed deltas the extension posts (assistantDelta messages) and
 * every distinct size the streaming answer's rendering takes before the answer ends.
 */
async function recordStreaming(frame) {
  await frame.evaluate(() => {
    const w = /** @type {any} */ (window);
    w.__e2eStream = { deltas: 0, sizes: [] };
    if (!w.__e2eDeltaListener) {
      w.__e2eDeltaListener = (/** @type {MessageEvent} */ e) => {
        if (e.data?.type === 'assistantDelta') w.__e2eStream.deltas++;
      };
      window.addEventListener('message', w.__e2eDeltaListener);
    }
    w.__e2eObserver?.disconnect();
    const messages = document.getElementById('messages');
    w.__e2eObserver = new MutationObserver(() => {
      // HTML size, not text: a code block's toolbar text is constant while its code grows.
      const body = messages.querySelector('.turn.assistant.streaming .body');
      const n = body ? body.innerHTML.length : -1;
      const sizes = w.__e2eStream.sizes;
      if (n > 0 && sizes[sizes.length - 1] !== n) sizes.push(n);
    });
    w.__e2eObserver.observe(messages, { childList: true, subtree: true, characterData: true });
  });
}

async function sendChat(ctx, frame, text) {
  const before = await frame.locator('#messages .turn.assistant:not(.streaming)').count();
  await frame.locator('#input').fill(text);
  await frame.locator('#input').press('Enter');
  await frame
    .locator('#messages .turn.user', { hasText: text.slice(0, 40) })
    .last()
    .waitFor({ timeout: 15_000 })
    .catch(() => {
      throw new Error('the sent message did not appear as a user turn in the chat');
    });
  return before;
}

async function waitAnswer(frame, before, timeoutMs) {
  const done = frame.locator('#messages .turn.assistant:not(.streaming)');
  const errors = frame.locator('#messages .turn.error');
  const errorsBefore = await errors.count();
  const result = await waitUntil(
    async () => {
      if ((await done.count()) > before) return 'answer';
      if ((await errors.count()) > errorsBefore) return 'error';
      return undefined;
    },
    timeoutMs,
    () => 'no finished assistant answer',
  );
  if (result === 'error') {
    throw new Error(
      `the chat showed an error instead of an answer: ${(await errors.last().innerText()).trim()}`,
    );
  }
  return done.nth(before);
}

async function chatStream(ctx) {
  const frame = await openChat(ctx);
  ctx.state.chatFrame = frame;
  await ctx.shot('chat-open');
  await recordStreaming(frame);
  // Without the open file as context, the answer does not depend on what earlier checks typed.
  if (await frame.locator('#context-row').isVisible())
    await frame.locator('#include-context').uncheck();
  const before = await sendChat(
    ctx,
    frame,
    'Write a Python function that returns the sum of a list of numbers.',
  );
  const answer = await waitAnswer(frame, before, 90_000);
  const stream = await frame.evaluate(() => /** @type {any} */ (window).__e2eStream);
  const text = (await answer.locator('.body').innerText()).trim();
  const html = await answer.locator('.body').innerHTML();
  ctx.log(
    `chat answer (${text.length} chars; ${stream.deltas} streamed deltas, ${stream.sizes.length} renders while streaming): ${JSON.stringify(text.slice(0, 200))}`,
  );
  ctx.log(`chat answer HTML: ${JSON.stringify(html.slice(0, 300))}`);
  await ctx.shot('chat-answer');
  if (!text) throw new Error('the assistant answer is empty');
  // Streaming = the text came in pieces and was on screen before the answer ended.
  if (stream.deltas < 2 || stream.sizes.length < 1) {
    throw new Error(
      `the answer did not stream: ${stream.deltas} assistantDelta message(s) reached the webview and it rendered the answer ${stream.sizes.length} time(s) before the end (need >= 2 and >= 1)`,
    );
  }
  const blocks = answer.locator('.code-block pre code');
  if ((await blocks.count()) === 0) {
    throw new Error(
      `the answer has no rendered code block (.code-block pre code); answer text: ${JSON.stringify(text.slice(0, 300))}`,
    );
  }
  // The block's content is the model's business (the tiny model sometimes answers with an empty
  // fence); that it is rendered as a code block with its actions is the product's.
  const code = (await blocks.first().innerText()).trim();
  if (!code) ctx.log('note: the model answered with an empty code block');
  const actions = await answer.locator('.code-block [aria-label="Insert code at cursor"]').count();
  if (!actions) throw new Error('the code block has no "Insert code at cursor" action');
}

async function chatStop(ctx) {
  const frame = ctx.state.chatFrame ?? (await openChat(ctx));
  // The tiny model answers in a fraction of a second, faster than a round trip from playwright: a
  // watcher in the webview clicks the real Stop button (the same click handler a user's click runs)
  // the moment it appears, i.e. as soon as the answer has started.
  await frame.evaluate(() => {
    const w = /** @type {any} */ (window);
    w.__e2eStop = { clicked: false, htmlAtClick: -1 };
    w.__e2eStopObserver?.disconnect();
    const messages = document.getElementById('messages');
    const stop = document.getElementById('stop');
    w.__e2eStopObserver = new MutationObserver(() => {
      const body = messages.querySelector('.turn.assistant.streaming .body');
      if (w.__e2eStop.clicked || !body || stop.hidden) return;
      w.__e2eStop = { clicked: true, htmlAtClick: body.innerHTML.length };
      stop.click();
      w.__e2eStopObserver.disconnect();
    });
    w.__e2eStopObserver.observe(messages, { childList: true, subtree: true, characterData: true });
  });
  const before = await sendChat(
    ctx,
    frame,
    'Explain in detail, step by step, how a hash map works, with several long code examples in Python, Java and C++.',
  );
  const answer = await waitAnswer(frame, before, 60_000).catch((err) => {
    throw new Error(`while waiting for the answer to be stopped: ${err.message}`);
  });
  const stopState = await frame.evaluate(() => /** @type {any} */ (window).__e2eStop);
  if (!stopState.clicked) {
    const meta = (
      await answer
        .locator('.meta')
        .innerText()
        .catch(() => '')
    ).trim();
    throw new Error(
      `the answer ended without the Stop button ever being visible (footer "${meta}")`,
    );
  }
  ctx.log(`clicked Stop when the answer had ${stopState.htmlAtClick} chars of HTML`);
  const stop = frame.locator('#stop');
  const meta = (
    await answer
      .locator('.meta')
      .innerText()
      .catch(() => '')
  ).trim();
  ctx.log(`stopped answer meta: "${meta}"`);
  await ctx.shot('chat-stopped');
  if (!/stopped: cancelled/.test(meta)) {
    throw new Error(
      `the answer did not end as cancelled after Stop was clicked at its start (its footer says "${meta}"; expected "stopped: cancelled")`,
    );
  }
  if (await stop.isVisible())
    throw new Error('the Stop button is still visible after the answer ended');
  if (await frame.locator('#send').isDisabled())
    throw new Error('the Send button stays disabled after Stop');
}

const HOSTILE = [
  'Here is some output:',
  '',
  '<script>window.__e2ePwned = "script"</script>',
  '<img src=x onerror="window.__e2ePwned=\'img\'">',
  '<svg onload="window.__e2ePwned=\'svg\'"></svg>',
  '<iframe srcdoc="<script>parent.__e2ePwned=\'iframe\'</script>"></iframe>',
  '[click me](javascript:window.__e2ePwned="link")',
  '![pic](x" onerror="window.__e2ePwned=\'md-img\')',
  '<a href="javascript:window.__e2ePwned=\'a\'">raw link</a>',
  '<form action="javascript:window.__e2ePwned=\'form\'"><button>go</button></form>',
  '',
  '```html',
  '<script>window.__e2ePwned = "code"</script>',
  '```',
].join('\n');

async function hostileMarkdown(ctx) {
  const frame = ctx.state.chatFrame ?? (await openChat(ctx));
  const { page } = ctx;
  // 1. Through the whole product: a user message is shown as text.
  const beforeUser = await frame.locator('#messages .turn.user').count();
  await frame.locator('#input').fill(HOSTILE);
  await frame.locator('#input').press('Enter');
  await waitUntil(
    async () => (await frame.locator('#messages .turn.user').count()) > beforeUser,
    15_000,
    () => 'hostile user message not shown',
  );
  // Stop the answer to it right away (its content does not matter here).
  await frame
    .locator('#stop')
    .click({ timeout: 5_000 })
    .catch(() => {});
  await waitUntil(
    async () => !(await frame.locator('#messages .turn.assistant.streaming').count()),
    30_000,
    () => 'answer to the hostile message did not end',
  );
  // 2. An assistant answer carrying hostile markdown, fed to the webview through the same message
  //    path the extension uses (assistantStart / assistantDelta / assistantEnd), so the real renderer,
  //    sanitiser and CSP of the real webview handle it. (The tiny model cannot be made to emit it.)
  await frame.evaluate((text) => {
    window.postMessage({ type: 'assistantStart' }, '*');
    window.postMessage({ type: 'assistantDelta', delta: text }, '*');
    setTimeout(
      () =>
        window.postMessage(
          { type: 'assistantEnd', turn: { role: 'assistant', text, finishReason: 'stop' } },
          '*',
        ),
      300,
    );
  }, HOSTILE);
  const answer = frame.locator('#messages .turn.assistant:not(.streaming)').last();
  await waitUntil(
    async () => (await answer.innerText().catch(() => '')).includes('Here is some output'),
    10_000,
    () => 'the hostile answer was not rendered',
  );
  await sleep(1_000); // give any handler a chance to fire
  const link = answer.locator('a', { hasText: 'click me' });
  if (await link.count())
    await link
      .first()
      .click({ timeout: 2_000 })
      .catch(() => {});
  await sleep(500);
  await ctx.shot('chat-hostile-markdown');

  const flagInWebview = await frame.evaluate(() => /** @type {any} */ (window).__e2ePwned ?? null);
  const flagInPage = await page.evaluate(() => /** @type {any} */ (window).__e2ePwned ?? null);
  const problems = [];
  if (flagInWebview !== null)
    problems.push(
      `a script ran in the webview (window.__e2ePwned = ${JSON.stringify(flagInWebview)})`,
    );
  if (flagInPage !== null)
    problems.push(
      `a script ran in the workbench (window.__e2ePwned = ${JSON.stringify(flagInPage)})`,
    );
  const dom = await frame.evaluate(() => {
    const root = document.getElementById('messages');
    const bad = [];
    for (const el of root.querySelectorAll('*')) {
      const tag = el.tagName.toLowerCase();
      if (['script', 'img', 'svg', 'iframe', 'form', 'object', 'embed', 'style'].includes(tag))
        bad.push(`<${tag}>`);
      for (const a of el.attributes) {
        if (/^on/i.test(a.name)) bad.push(`${tag}[${a.name}]`);
        if (/^\s*javascript:/i.test(a.value)) bad.push(`${tag}[${a.name}=${a.value.slice(0, 30)}]`);
      }
    }
    const buttons = [...root.querySelectorAll('button')]
      .filter((b) => b.className !== 'code-action')
      .map((b) => b.outerHTML.slice(0, 60));
    return { bad, buttons, text: root.innerText };
  });
  problems.push(...dom.bad.map((b) => `live element in the chat: ${b}`));
  problems.push(...dom.buttons.map((b) => `a button from model output: ${b}`));
  // The hostile text must still be visible as text (so the test did render it).
  if (!dom.text.includes('<script>window.__e2ePwned = "code"</script>'))
    problems.push('the fenced code was not shown as text');
  if (!dom.text.includes('<img src=x onerror='))
    problems.push('raw HTML was not shown as literal text');
  if (problems.length)
    throw new Error(`hostile markdown was not inert:\n  - ${problems.join('\n  - ')}`);
  ctx.log('hostile markdown: shown as text, no live elements, no script ran');
}

function sidecarPids(ctx) {
  return descendantsMatching(ctx.cs.proc.pid, 'sidecar.js');
}

async function sidecarRecovery(ctx) {
  const { page } = ctx;
  const pids = sidecarPids(ctx);
  if (!pids.length)
    throw new Error('no sidecar process (a descendant of code-server running sidecar.js) found');
  ctx.log(`killing sidecar pid(s) ${pids.join(', ')} with SIGKILL`);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  const down = await waitUntil(
    async () => {
      const s = await statusText(page);
      return s && !isReady(s) ? s : undefined;
    },
    15_000,
    () => 'the status bar kept showing "ready" after the sidecar was killed',
    50,
  );
  ctx.log(`status after kill: "${down.label}"`);
  await ctx.shot('sidecar-killed');
  const up = await waitUntil(
    () => statusText(page).then((v) => (isReady(v) ? v : undefined)),
    60_000,
    () => 'the engine did not come back to ready after the sidecar was killed',
  );
  const newPids = sidecarPids(ctx);
  if (!newPids.length || newPids.some((p) => pids.includes(p))) {
    throw new Error(
      `expected a new sidecar process; before ${pids.join(',')}, now ${newPids.join(',') || 'none'}`,
    );
  }
  ctx.log(`recovered: "${up.label}", new sidecar pid(s) ${newPids.join(', ')}`);
  // And it answers again.
  const frame = ctx.state.chatFrame ?? (await openChat(ctx));
  const before = await sendChat(ctx, frame, 'Say hello.');
  await waitAnswer(frame, before, 60_000).catch((err) => {
    throw new Error(`chat after recovery: ${err.message}`);
  });
  await ctx.shot('sidecar-recovered');
}

/**
 * name, the check, `fatal`: later checks cannot run without it; `needs`: checks that must have
 * passed for this one to make sense (otherwise it is reported failed as "not run").
 */
export const CHECKS = [
  { name: 'workbench', fn: workbench, fatal: true },
  { name: 'activation', fn: activation, fatal: true },
  { name: 'status-ready', fn: statusReady },
  { name: 'ghost-text', fn: ghostText, needs: ['status-ready'] },
  { name: 'chat-stream', fn: chatStream, needs: ['status-ready'] },
  { name: 'chat-stop', fn: chatStop, needs: ['status-ready'] },
  { name: 'hostile-markdown', fn: hostileMarkdown },
  { name: 'sidecar-recovery', fn: sidecarRecovery, needs: ['status-ready'] },
  { name: 'benchmark-cancel', fn: benchmarkCancel },
  { name: 'benchmark', fn: benchmark },
];
