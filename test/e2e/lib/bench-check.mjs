// The benchmark checks. "LocalMoE: Run Benchmark" is started through its key binding (the command
// palette if that fails) and a preset is picked in the real quick pick; the real `moe bench` runs on
// the embedded model (CPU).
//   benchmark-cancel  Standard preset, Cancel clicked in the progress notification: the run ends,
//                     and no result (complete or partial) is left in globalStorage/bench/.
//   benchmark         Quick preset: the results panel's table lists variant rows with a numeric
//                     decode tok/s, the three charts are drawn, the JSON is saved.
import fs from 'node:fs';
import path from 'node:path';
import { descendantsMatching, sleep } from './procs.mjs';
import { runCommand, waitUntil } from './workbench.mjs';

/** The frame (inner webview document) that holds the benchmark panel's table, if any. */
async function benchFrame(page) {
  for (const f of page.frames()) {
    const n = await f
      .locator('#bench-table')
      .count()
      .catch(() => 0);
    if (n) return f;
  }
  return undefined;
}

/** globalStorage/bench/ of the product run (the user-data dir sits next to the workspace). */
function benchDir(ctx) {
  return path.join(
    path.dirname(ctx.workspace),
    'user-data',
    'User',
    'globalStorage',
    'localmoe.localmoe',
    'bench',
  );
}

const listBench = (ctx) => (fs.existsSync(benchDir(ctx)) ? fs.readdirSync(benchDir(ctx)) : []);

/** A notification (toast or notification-center entry) containing `text`. */
function notification(page, text) {
  return page.locator('.notification-toast, .notification-list-item', { hasText: text }).first();
}

async function failureText(page) {
  const n = notification(page, 'benchmark failed');
  return (await n.count()) ? (await n.innerText()).replace(/\s+/g, ' ').trim() : undefined;
}

/** Runs the command and picks `preset` in its quick pick. */
async function startBenchmark(ctx, preset) {
  const { page } = ctx;
  const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: preset }).first();
  // Focus may sit in a webview (the chat) after earlier checks: put it in the editor area, then
  // run the command by its key; try again (through the command palette) if no quick pick came.
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press('Escape');
    await page
      .locator(
        '.monaco-workbench .part.editor .editor-group-container.active .monaco-editor .view-lines',
      )
      .first()
      .click({ timeout: 5_000 })
      .catch(() => {});
    await runCommand(page, 'workbench.action.focusActiveEditorGroup');
    await sleep(300);
    if (attempt === 1) {
      await runCommand(page, 'localmoe.runBenchmark');
    } else {
      // As a user does: the command palette (F1), by the command's title.
      await page.keyboard.press('F1');
      const input = page.locator('.quick-input-widget .quick-input-box input');
      await input.waitFor({ state: 'visible', timeout: 5_000 }).catch(() => {});
      await input.fill('>LocalMoE: Run Benchmark').catch(() => {});
      await page
        .locator('.quick-input-widget .monaco-list-row', { hasText: 'LocalMoE: Run Benchmark' })
        .first()
        .waitFor({ state: 'visible', timeout: 5_000 })
        .catch(() => {});
      await page.keyboard.press('Enter');
    }
    const shown = await row
      .waitFor({ state: 'visible', timeout: 8_000 })
      .then(() => true)
      .catch(() => false);
    if (shown) break;
    if (attempt === 3)
      throw new Error(`Run Benchmark showed no quick pick with a "${preset}" preset (3 tries)`);
    ctx.log(`no quick pick after try ${attempt}; trying again`);
  }
  await ctx.shot(`bench-presets-${preset.toLowerCase()}`);
  await row.click();
}

/** Opens the notification center and returns the running benchmark's entry (with its Cancel). */
async function progressEntry(ctx) {
  const { page } = ctx;
  const entry = notification(page, 'benchmarking');
  return waitUntil(
    async () => {
      if (await entry.isVisible().catch(() => false)) return entry;
      // Progress toasts are not always shown in this headless workbench: open the center.
      await runCommand(page, 'notifications.showList');
      await sleep(300);
      return (await entry.isVisible().catch(() => false)) ? entry : undefined;
    },
    15_000,
    () => 'no "LocalMoE: benchmarking …" progress notification',
    500,
  );
}

export async function benchmarkCancel(ctx) {
  const { page } = ctx;
  const before = listBench(ctx).filter((f) => f.endsWith('.json'));
  await startBenchmark(ctx, 'Standard');
  const entry = await progressEntry(ctx);
  // Cancel while the model works (after the bandwidth probe), if the run gets there within 10 s.
  await waitUntil(
    async () => /\b(load|run \d)/.test(await entry.innerText().catch(() => '')),
    10_000,
    () => '',
    100,
  ).catch(() => {});
  const text = (await entry.innerText()).replace(/\s+/g, ' ').trim();
  ctx.log(`progress notification: "${text}"`);
  await ctx.shot('bench-progress');
  const procs = descendantsMatching(ctx.cs.proc.pid, ' bench ');
  ctx.log(`moe bench process(es) before Cancel: ${procs.join(', ') || 'none found'}`);
  if (!procs.length) throw new Error('no `moe bench` child process while the benchmark runs');
  const cancel = entry.locator('a, .monaco-button', { hasText: 'Cancel' }).first();
  await cancel.click({ timeout: 5_000 }).catch(() => {
    throw new Error(`the progress notification has no Cancel button: "${text}"`);
  });
  ctx.log('clicked Cancel');
  // The run ends: its notification goes away, and nothing it wrote is left.
  await waitUntil(
    async () => !(await entry.isVisible().catch(() => false)),
    20_000,
    () => 'the benchmark progress notification stayed after Cancel',
  );
  const failed = await failureText(page);
  if (failed) throw new Error(`cancelling showed an error: ${failed}`);
  const alive = await waitUntil(
    async () => (descendantsMatching(ctx.cs.proc.pid, ' bench ').length ? undefined : 'gone'),
    10_000,
    () => 'the moe bench process still runs after Cancel',
  );
  ctx.log(`moe bench process after Cancel: ${alive}`);
  await sleep(1_000);
  const after = listBench(ctx);
  const leftovers = after.filter((f) => !before.includes(f));
  ctx.log(`globalStorage/bench after cancel: ${JSON.stringify(after)}`);
  await ctx.shot('bench-cancelled');
  if (leftovers.length)
    throw new Error(`a cancelled benchmark left files behind: ${leftovers.join(', ')}`);
  if (await benchFrame(page)) throw new Error('a results panel opened for a cancelled benchmark');
  await runCommand(page, 'notifications.clearAll');
}

export async function benchmark(ctx) {
  const { page } = ctx;
  await startBenchmark(ctx, 'Quick');
  const start = Date.now();
  const frame = await waitUntil(
    async () => {
      const failed = await failureText(page);
      if (failed) return { failed };
      const f = await benchFrame(page);
      if (!f) return undefined;
      const rows = await f
        .locator('#bench-table tbody tr')
        .count()
        .catch(() => 0);
      return rows ? f : undefined;
    },
    240_000,
    () => 'no benchmark results panel with table rows appeared',
    250,
  );
  if (frame.failed) throw new Error(`the benchmark failed: ${frame.failed}`);
  ctx.log(`results panel after ${((Date.now() - start) / 1000).toFixed(1)} s`);
  await sleep(500); // let the panel settle for the screenshot
  const table = await frame.evaluate(() => {
    const heads = [...document.querySelectorAll('#bench-table thead th')].map((t) => t.textContent);
    const rows = [...document.querySelectorAll('#bench-table tbody tr')].map((tr) => ({
      name: tr.getAttribute('data-variant'),
      label: tr.querySelector('th')?.textContent ?? '',
      decode: tr.querySelector('td[data-metric="decode"]')?.textContent ?? '',
      prefill: tr.querySelector('td[data-metric="prefill"]')?.textContent ?? '',
      ttft: tr.querySelector('td[data-metric="ttft"]')?.textContent ?? '',
    }));
    const charts = [...document.querySelectorAll('#charts svg')].map((s) => ({
      metric: s.getAttribute('data-metric'),
      bars: s.querySelectorAll('rect.bar').length,
    }));
    return {
      heads,
      rows,
      charts,
      title: document.getElementById('title')?.textContent ?? '',
      subtitle: document.getElementById('subtitle')?.textContent ?? '',
    };
  });
  ctx.log(`panel: "${table.title}" — ${table.subtitle}`);
  for (const r of table.rows)
    ctx.log(`  ${r.name}: decode ${r.decode} tok/s, prefill ${r.prefill} tok/s, TTFT ${r.ttft} ms`);
  await ctx.shot('bench-results');
  if (!table.heads.includes('decode tok/s'))
    throw new Error(
      `the results table has no "decode tok/s" column: ${JSON.stringify(table.heads)}`,
    );
  const bad = table.rows.filter((r) => !/^\d+(\.\d+)?$/.test(r.decode));
  if (!table.rows.length || bad.length)
    throw new Error(
      `variant rows without a numeric decode tok/s: ${JSON.stringify(bad.length ? bad : table.rows)}`,
    );
  if (!/localmoe-code-tiny/.test(table.title))
    throw new Error(`the panel is not about the embedded model: "${table.title}"`);
  const metrics = table.charts.map((c) => c.metric).join(',');
  if (metrics !== 'decode,prefill,ttft' || table.charts.some((c) => c.bars < 1))
    throw new Error(
      `expected three drawn charts (decode, prefill, ttft): ${JSON.stringify(table.charts)}`,
    );
  const saved = listBench(ctx).filter((f) =>
    /^\d{8}-\d{6}-localmoe-code-tiny(-\d+)?\.json$/.test(f),
  );
  if (!saved.length)
    throw new Error(`no saved result in globalStorage/bench: ${JSON.stringify(listBench(ctx))}`);
  ctx.log(`saved: ${saved.join(', ')}`);
}
