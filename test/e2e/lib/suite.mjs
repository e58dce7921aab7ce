// Runs the in-editor mocha suite (test/suite/index.ts bundled to out/test/suite/index.js, the
// @vscode/test-electron layout: a module exporting run()) inside code-server's Node extension host:
// code-server started with the smoke-test driver, `window.codeAutomationExit` exposed before the page
// loads, and the test paths passed in the `payload` query parameter. The extension under test is the
// repo itself (extensionDevelopmentPath), so the extensions dir stays empty.
import fs from 'node:fs';
import path from 'node:path';
import { format } from 'node:util';
import { launchBrowser, root, startCodeServer, writeUserConfig } from './editor.mjs';
import { killGroup } from './procs.mjs';

export const SUITE_INDEX = path.join(root, 'out/test/suite/index.js');

const localmoeEnv = () =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('LOCALMOE_')));

/**
 * Returns { code, output }: code is the exit code the extension host reported (0 = all passed).
 * Throws when the suite could not be run or did not finish in time.
 */
export async function runSuite({
  env,
  runDir,
  artifacts,
  workspace,
  timeoutMs,
  extensionEnvironment = {},
  log,
}) {
  if (!fs.existsSync(SUITE_INDEX)) {
    throw new Error(
      `${path.relative(root, SUITE_INDEX)} not found: test/suite/index.ts is missing or the build did not bundle it`,
    );
  }
  const userDataDir = path.join(runDir, 'suite-user-data');
  const extensionsDir = path.join(runDir, 'suite-extensions');
  fs.mkdirSync(extensionsDir, { recursive: true });
  writeUserConfig(userDataDir);
  const logFile = path.join(artifacts, 'suite-code-server.log');
  const cs = await startCodeServer(env.codeServer, {
    userDataDir,
    extensionsDir,
    logFile,
    extraArgs: ['--vscode-option', 'enable-smoke-test-driver'],
  });
  let browser;
  const lines = [];
  try {
    browser = await launchBrowser(env.chromium, path.join(runDir, 'suite-chromium-profile'));
    const { page } = browser;
    let resolveExit;
    const exited = new Promise((r) => (resolveExit = r));
    await page.exposeFunction('codeAutomationExit', (code, logs) => resolveExit({ code, logs }));
    // Mocha's reporter logs printf-style ("%d) %s"): format with the real arguments, in order.
    let pending = Promise.resolve();
    page.on('console', (m) => {
      const args = Promise.all(m.args().map((a) => a.jsonValue().catch(() => '?')));
      pending = pending.then(async () => {
        let values = await args.catch(() => [m.text()]);
        let level = '';
        // The workbench's logger prefixes ['%c INFO', 'color: …']; the extension host's own arguments follow.
        if (typeof values[0] === 'string' && values[0].startsWith('%c') && values.length >= 2) {
          level = values[0].slice(2).trim();
          values = values.slice(2);
        }
        const text = values.length ? format(...values) : m.text();
        lines.push(`[${level || m.type()}] ${text}`);
      });
    });
    const remote = (p) => `vscode-remote://127.0.0.1:${cs.port}${p}`;
    const payload = [
      ['extensionDevelopmentPath', remote(root)],
      ['extensionTestsPath', remote(SUITE_INDEX)],
      // Environment variables reach the tests only this way; LOCALMOE_* ones (LOCALMOE_ADDON,
      // LOCALMOE_MODEL, …) are passed through from the runner's environment.
      [
        'extensionEnvironment',
        JSON.stringify({ ...localmoeEnv(), LOCALMOE_E2E: '1', ...extensionEnvironment }),
      ],
    ];
    const url = `${cs.url}?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
    log(`in-editor suite: ${path.relative(root, SUITE_INDEX)} in code-server on port ${cs.port}`);
    await page.goto(url);
    let timer;
    const result = await Promise.race([
      exited,
      new Promise((r) => (timer = setTimeout(() => r(undefined), timeoutMs))),
    ]);
    clearTimeout(timer);
    await Promise.race([pending, new Promise((r) => setTimeout(r, 2_000))]);
    await page.screenshot({ path: path.join(artifacts, 'suite-final.png') }).catch(() => {});
    const output = lines.join('\n');
    fs.writeFileSync(path.join(artifacts, 'suite-console.log'), output);
    if (!result) {
      throw new Error(
        `the in-editor suite did not finish within ${timeoutMs / 1000} s (no codeAutomationExit); console in suite-console.log:\n${lines.slice(-15).join('\n')}`,
      );
    }
    for (const l of result.logs ?? []) {
      const dest = path.join(artifacts, 'suite-logs', l.relativePath);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.writeFileSync(dest, l.contents);
    }
    return { code: result.code, output };
  } finally {
    await browser?.context.close().catch(() => {});
    await killGroup(cs.proc);
  }
}
