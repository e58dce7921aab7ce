#!/usr/bin/env node
// End-to-end test of LocalMoE in a real editor: code-server (VS Code in a browser) driven by Debian's
// Chromium through playwright-core. Packages the extension as a .vsix, installs it into a fresh
// code-server profile, and checks activation, the status bar, ghost text + Tab, a streamed chat answer
// with a code block, Stop, inert hostile markdown, recovery from a killed sidecar; then runs the
// in-editor mocha suite (test/suite) inside code-server. Screenshots of every step go to
// test-artifacts/e2e/. Exit code 0 only when every check and the suite passed.
//
//   node test/e2e/run.mjs [--only a,b] [--skip-suite] [--suite-only] [--keep]
//     --only        run just these checks (names as printed; workbench/activation always run)
//     --skip-suite  skip the in-editor mocha suite      --suite-only  run only the suite
//     --keep        keep the per-run dirs under ~/.cache/localmoe-e2e/runs/ (deleted otherwise)
//   E2E_TIMEOUT_S   limit for the whole run after setup and packaging (default 420)
//   E2E_VSIX        test this .vsix instead of packaging the working tree
//   E2E_SUITE_TIMEOUT_S  limit for the in-editor suite (default 240)
import fs from 'node:fs';
import path from 'node:path';
import {
  installVsix,
  launchBrowser,
  makeWorkspace,
  packageVsix,
  root,
  setup,
  startCodeServer,
  writeUserConfig,
} from './lib/editor.mjs';
import { killAll, killAllSync, killGroup } from './lib/procs.mjs';
import { CHECKS } from './lib/checks.mjs';
import { keybindings } from './lib/workbench.mjs';
import { runSuite } from './lib/suite.mjs';

const argv = process.argv.slice(2);
const flag = (f) => argv.includes(f);
let only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1].split(',') : undefined;
if (only) {
  const unknown = only.filter((n) => !CHECKS.some((c) => c.name === n));
  if (unknown.length) {
    console.error(
      `[e2e] unknown check(s) ${unknown.join(', ')}; checks: ${CHECKS.map((c) => c.name).join(', ')}`,
    );
    process.exit(2);
  }
  // Also run what the chosen checks need.
  for (const c of CHECKS.slice().reverse())
    if (only.includes(c.name)) only.push(...(c.needs ?? []));
  only = [...new Set(only)];
}
const keep = flag('--keep');
const runChecks = !flag('--suite-only');
const runSuiteToo = !flag('--skip-suite');
const TIMEOUT_S = Number(process.env.E2E_TIMEOUT_S ?? 420);

const ART = path.join(root, 'test-artifacts/e2e');
const t0 = Date.now();
const secs = () => ((Date.now() - t0) / 1000).toFixed(1);
let logFile;
const log = (msg) => {
  const line = `[e2e ${secs().padStart(5)}s] ${msg}`;
  console.log(line);
  if (logFile) fs.appendFileSync(logFile, `${line}\n`);
};

const results = []; // { name, ok, ms, error?, tests? }
let current = 'setup'; // what was running, for the timeout message

process.on('exit', killAllSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`[e2e] ${sig}: stopping everything it started`);
    killAllSync();
    process.exit(130);
  });
}

// Artifacts: a clean folder per run.
fs.rmSync(ART, { recursive: true, force: true });
fs.mkdirSync(ART, { recursive: true });
logFile = path.join(ART, 'e2e.log');

let shotNo = 0;
function shooter(page) {
  return async (name) => {
    const file = path.join(ART, `${String(++shotNo).padStart(2, '0')}-${name}.png`);
    await page
      .screenshot({ path: file })
      .catch((e) => log(`screenshot ${name} failed: ${e.message}`));
  };
}

function vsixToTest() {
  if (process.env.E2E_VSIX) {
    log(`using E2E_VSIX=${process.env.E2E_VSIX} (not packaging)`);
    return process.env.E2E_VSIX;
  }
  log('packaging the extension (scripts/e2e-package.sh)');
  return packageVsix();
}

async function productChecks(env, runDir, vsix) {
  const userDataDir = path.join(runDir, 'user-data');
  const extensionsDir = path.join(runDir, 'extensions');
  fs.mkdirSync(extensionsDir, { recursive: true });
  writeUserConfig(userDataDir, {
    settings: {
      // Deterministic answers, and room for Stop to interrupt one.
      'localmoe.chat.temperature': 0,
      'localmoe.chat.maxTokens': 1024,
    },
    keybindings: keybindings(),
  });
  log(`installing ${path.relative(root, vsix)} into ${extensionsDir}`);
  const installedAt = installVsix(env.codeServer, vsix, userDataDir, extensionsDir);
  log(`installed: ${path.basename(installedAt)}`);
  const workspace = makeWorkspace(path.join(runDir, 'workspace'));

  const cs = await startCodeServer(env.codeServer, {
    userDataDir,
    extensionsDir,
    workspace,
    logFile: path.join(ART, 'code-server.log'),
    extraArgs: ['--vscode-option', 'enable-smoke-test-driver'],
  });
  log(`code-server up at ${cs.url} (pid ${cs.proc.pid})`);
  const browser = await launchBrowser(env.chromium, path.join(runDir, 'chromium-profile'));
  const { page } = browser;
  const consoleLog = fs.createWriteStream(path.join(ART, 'browser-console.log'));
  page.on('console', (m) => consoleLog.write(`[${m.type()}] ${m.text()}\n`));
  page.on('pageerror', (e) => consoleLog.write(`[pageerror] ${e.message}\n`));
  const ctx = {
    page,
    cs,
    workspace,
    artifacts: ART,
    shot: shooter(page),
    log: (m) => log(`  ${m}`),
    state: {},
  };
  try {
    for (const check of CHECKS) {
      if (only && !check.fatal && !only.includes(check.name)) continue;
      const start = Date.now();
      const unmet = (check.needs ?? []).filter((n) => !results.some((r) => r.name === n && r.ok));
      if (unmet.length) {
        results.push({
          name: check.name,
          ok: false,
          ms: 0,
          error: `not run: needs ${unmet.join(', ')}`,
        });
        log(`check ${check.name}: not run (needs ${unmet.join(', ')})`);
        continue;
      }
      log(`check ${check.name}`);
      current = check.name;
      try {
        await check.fn(ctx);
        results.push({ name: check.name, ok: true, ms: Date.now() - start });
        log(`  PASS ${check.name} (${((Date.now() - start) / 1000).toFixed(1)} s)`);
      } catch (err) {
        // Playwright appends a coloured "Call log"; keep the message itself.
        const message = String(err?.message ?? err)
          .replace(/\u001b\[\d+m/g, '')
          .split('\nCall log:')[0];
        results.push({ name: check.name, ok: false, ms: Date.now() - start, error: message });
        log(`  FAIL ${check.name}: ${message}`);
        await ctx.shot(`${check.name}-FAILED`);
        if (check.fatal) {
          log('  (later checks need this one: skipping them)');
          for (const rest of CHECKS.slice(CHECKS.indexOf(check) + 1)) {
            if (!only || rest.fatal || only.includes(rest.name)) {
              results.push({
                name: rest.name,
                ok: false,
                ms: 0,
                error: `not run: ${check.name} failed`,
              });
            }
          }
          break;
        }
      }
    }
  } finally {
    await browser.context.close().catch(() => {});
    consoleLog.end();
    await killGroup(cs.proc);
  }
}

const NOISE =
  /Resolving connection token|Resolved connection token|Creating a socket|Ignoring fetching additional builtin|AccountPolicyGate|reconnection-grace-time|Service Worker|AgentHost|github|Failed to load resource|same-origin iframe|allow-scripts and allow-same-origin|\[lifecycle\]|Unload veto/i;

async function suiteCheck(env, runDir) {
  const start = Date.now();
  log('check in-editor-suite (test/suite inside code-server)');
  current = 'in-editor-suite';
  try {
    const workspace = makeWorkspace(path.join(runDir, 'suite-workspace'));
    const { code, output } = await runSuite({
      env,
      runDir,
      artifacts: ART,
      workspace,
      timeoutMs: Number(process.env.E2E_SUITE_TIMEOUT_S ?? 240) * 1000,
      log: (m) => log(`  ${m}`),
    });
    const shown = output
      .split('\n')
      .filter((l) => !NOISE.test(l))
      .slice(-80);
    console.log(shown.map((l) => `    | ${l}`).join('\n'));
    // Count the suite's own tests (mocha's summary) in the totals.
    const passing = Number(/^\[\w+\]\s*(\d+) passing/m.exec(output)?.[1] ?? 0);
    const failing = Number(/^\[\w+\]\s*(\d+) failing/m.exec(output)?.[1] ?? 0);
    log(`  in-editor suite: exit code ${code}, mocha: ${passing} passing, ${failing} failing`);
    if (code === 0 && passing === 0) {
      results.push({
        name: 'in-editor-suite',
        ok: false,
        ms: Date.now() - start,
        error: 'the suite exited 0 but mocha reported no passing test (no tests found?)',
      });
    } else if (code === 0) {
      results.push({
        name: 'in-editor-suite',
        ok: true,
        ms: Date.now() - start,
        tests: { passing, failing },
      });
      log(`  PASS in-editor-suite (exit code 0, ${((Date.now() - start) / 1000).toFixed(1)} s)`);
    } else {
      results.push({
        name: 'in-editor-suite',
        ok: false,
        ms: Date.now() - start,
        tests: { passing, failing },
        error: `the suite exited with code ${code}: ${failing} test(s) failing (output in test-artifacts/e2e/suite-console.log)`,
      });
      log(`  FAIL in-editor-suite: exit code ${code}`);
    }
  } catch (err) {
    results.push({
      name: 'in-editor-suite',
      ok: false,
      ms: Date.now() - start,
      error: err.message,
    });
    log(`  FAIL in-editor-suite: ${err.message}`);
  }
}

async function main() {
  log('setup (scripts/e2e-setup.sh)');
  const env = setup();
  log(`code-server: ${env.codeServer}; chromium: ${env.chromium}`);
  const vsix = runChecks ? vsixToTest() : undefined;
  const timer = setTimeout(() => {
    console.error(
      `[e2e] TIMEOUT: the run took longer than ${TIMEOUT_S} s after setup and packaging (E2E_TIMEOUT_S), during ${current}; killing what it started`,
    );
    results.push({
      name: current,
      ok: false,
      ms: 0,
      error: `timed out (E2E_TIMEOUT_S=${TIMEOUT_S})`,
    });
    writeSummary();
    console.log(
      `\n  ${results.filter((r) => r.ok).length} passing\n  ${results.filter((r) => !r.ok).length} failing`,
    );
    killAllSync();
    process.exit(1);
  }, TIMEOUT_S * 1000);
  timer.unref();

  // Per-run dirs of earlier runs that were killed before cleaning up (their pid is gone).
  const runsDir = path.join(env.cache, 'runs');
  for (const d of fs.existsSync(runsDir) ? fs.readdirSync(runsDir) : []) {
    const pid = Number(/-(\d+)$/.exec(d)?.[1]);
    let alive = false;
    try {
      alive = pid > 0 && (process.kill(pid, 0), true);
    } catch {
      alive = false;
    }
    if (!alive && !keep) fs.rmSync(path.join(runsDir, d), { recursive: true, force: true });
  }
  const runDir = path.join(
    runsDir,
    `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`,
  );
  fs.mkdirSync(runDir, { recursive: true });
  try {
    if (runChecks) await productChecks(env, runDir, vsix);
    if (runSuiteToo) await suiteCheck(env, runDir);
  } finally {
    await killAll();
    if (!keep) fs.rmSync(runDir, { recursive: true, force: true });
    else log(`kept ${runDir}`);
  }
}

function writeSummary() {
  fs.writeFileSync(
    path.join(ART, 'summary.json'),
    JSON.stringify({ seconds: Number(secs()), results }, null, 2),
  );
}

let fatal;
try {
  await main();
} catch (err) {
  fatal = err;
}
writeSummary();
console.log('\n[e2e] results:');
for (const r of results) {
  const tests = r.tests ? ` (${r.tests.passing} passing, ${r.tests.failing} failing)` : '';
  console.log(
    `  ${r.ok ? 'PASS' : 'FAIL'}  ${r.name.padEnd(18)} ${(r.ms / 1000).toFixed(1).padStart(6)} s${tests}${r.ok ? '' : `  ${r.error.split('\n')[0]}`}`,
  );
}
if (fatal) console.log(`  ERROR ${fatal.message}`);
// Totals: one per product check; the in-editor suite counts its own mocha tests (at least one
// failure when it failed without a mocha summary, e.g. a timeout).
let passed = 0;
let failed = fatal ? 1 : 0;
for (const r of results) {
  if (r.tests) {
    passed += r.tests.passing;
    failed += r.ok ? r.tests.failing : Math.max(1, r.tests.failing);
  } else if (r.ok) passed++;
  else failed++;
}
// The same summary lines mocha prints, so scripts/test-all.sh counts these checks.
console.log(`\n  ${passed} passing`);
if (failed) console.log(`  ${failed} failing`);
console.log(
  `[e2e] ${failed ? 'FAILED' : 'passed'} in ${secs()} s; screenshots and logs in ${path.relative(process.cwd(), ART) || ART}/`,
);
process.exit(failed || results.length === 0 ? 1 : 0);
