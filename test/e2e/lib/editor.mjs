// Preparing and starting the editor: cached code-server (scripts/e2e-setup.sh), the packaged
// extension, per-run user-data/extensions dirs, quiet settings, a sample workspace, and Chromium.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { freePort, runSync, startGroup, waitForHttp } from './procs.mjs';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const EXTENSION_ID = 'localmoe.localmoe';

/** Runs scripts/e2e-setup.sh (idempotent; fast when cached) and returns the paths it provides. */
export function setup() {
  const out = runSync('bash', [path.join(root, 'scripts/e2e-setup.sh'), '--print-env'], {
    label: 'scripts/e2e-setup.sh',
    timeoutMs: 900_000,
  });
  const env = {};
  for (const line of out.split('\n')) {
    const m = /^(E2E_[A-Z_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  for (const k of ['E2E_CACHE', 'E2E_CODE_SERVER', 'E2E_CHROMIUM']) {
    if (!env[k]) throw new Error(`scripts/e2e-setup.sh did not print ${k}:\n${out}`);
  }
  return { cache: env.E2E_CACHE, codeServer: env.E2E_CODE_SERVER, chromium: env.E2E_CHROMIUM };
}

/** Packages the extension (reused when up to date) and returns the .vsix path. */
export function packageVsix() {
  const vsix = path.join(root, 'build/e2e/localmoe.vsix');
  runSync('bash', [path.join(root, 'scripts/e2e-package.sh'), vsix], {
    label: 'scripts/e2e-package.sh',
    timeoutMs: 600_000,
    cwd: root,
  });
  return vsix;
}

/** Environment for code-server: no $PORT override, no extension gallery. */
export function codeServerEnv(extra = {}) {
  const env = { ...process.env, EXTENSIONS_GALLERY: '{}', ...extra };
  delete env.PORT;
  delete env.VSCODE_PROXY_URI;
  delete env.ELECTRON_RUN_AS_NODE;
  return env;
}

export const QUIET_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'security.workspace.trust.enabled': false,
  'chat.disableAIFeatures': true,
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'update.mode': 'none',
  'git.enabled': false,
  'editor.inlineSuggest.enabled': true,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'chat.commandCenter.enabled': false,
};

/** Writes user settings (and optional keybindings) into a user-data dir. */
export function writeUserConfig(userDataDir, { settings = {}, keybindings } = {}) {
  const user = path.join(userDataDir, 'User');
  fs.mkdirSync(user, { recursive: true });
  fs.writeFileSync(
    path.join(user, 'settings.json'),
    JSON.stringify({ ...QUIET_SETTINGS, ...settings }, null, 2),
  );
  if (keybindings)
    fs.writeFileSync(path.join(user, 'keybindings.json'), JSON.stringify(keybindings, null, 2));
}

/** Copies the sample workspace (test/e2e/workspace) into `dest`. */
export function makeWorkspace(dest) {
  fs.cpSync(path.join(root, 'test/e2e/workspace'), dest, { recursive: true });
  // A long real source file for the completion timings (one copy in the repo, taken from its home).
  fs.copyFileSync(
    path.join(root, 'models/scripts/check_fixtures_numpy.py'),
    path.join(dest, 'check_fixtures_numpy.py'),
  );
  return dest;
}

export function installVsix(codeServer, vsix, userDataDir, extensionsDir) {
  const home = path.join(path.dirname(userDataDir), `${path.basename(userDataDir)}-xdg`);
  fs.mkdirSync(home, { recursive: true });
  fs.writeFileSync(path.join(home, 'config.yaml'), 'auth: none\ncert: false\n');
  const out = runSync(
    codeServer,
    [
      '--config',
      path.join(home, 'config.yaml'),
      '--user-data-dir',
      userDataDir,
      '--extensions-dir',
      extensionsDir,
      '--install-extension',
      vsix,
      '--force',
    ],
    {
      env: codeServerEnv({
        XDG_CONFIG_HOME: path.join(home, 'config'),
        XDG_DATA_HOME: path.join(home, 'data'),
      }),
      label: `code-server --install-extension ${path.basename(vsix)}`,
      timeoutMs: 180_000,
    },
  );
  const installed = fs
    .readdirSync(extensionsDir)
    .filter((d) => d.toLowerCase().startsWith(`${EXTENSION_ID}-`));
  if (!installed.length)
    throw new Error(
      `--install-extension reported success but ${extensionsDir} holds no ${EXTENSION_ID}-*:\n${out}`,
    );
  return path.join(extensionsDir, installed[0]);
}

/**
 * Starts code-server on a free port; resolves once /healthz answers. Its config file and the data
 * it would keep under ~/.config and ~/.local/share go next to the user-data dir instead.
 */
export async function startCodeServer(
  codeServer,
  { userDataDir, extensionsDir, workspace, logFile, extraArgs = [], env = {}, timeoutMs = 60_000 },
) {
  const port = await freePort();
  const home = path.join(path.dirname(userDataDir), `${path.basename(userDataDir)}-xdg`);
  fs.mkdirSync(path.join(home, 'config'), { recursive: true });
  fs.mkdirSync(path.join(home, 'data'), { recursive: true });
  const configFile = path.join(home, 'config.yaml');
  fs.writeFileSync(configFile, 'auth: none\ncert: false\n');
  env = {
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_DATA_HOME: path.join(home, 'data'),
    ...env,
  };
  const args = [
    '--config',
    configFile,
    '--auth',
    'none',
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--user-data-dir',
    userDataDir,
    '--extensions-dir',
    extensionsDir,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    ...extraArgs,
  ];
  if (workspace) args.push(workspace);
  fs.appendFileSync(logFile, `$ ${codeServer} ${args.join(' ')}\n`);
  const proc = startGroup('code-server', codeServer, args, {
    env: codeServerEnv(env),
    logFile,
    cwd: root,
  });
  await waitForHttp(`http://127.0.0.1:${port}/healthz`, proc, timeoutMs);
  return { proc, port, url: `http://127.0.0.1:${port}/` };
}

export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
  '--disable-breakpad',
];

/** Launches Debian's chromium headless with a fresh profile dir; returns { context, page }. */
export async function launchBrowser(executablePath, profileDir) {
  fs.mkdirSync(profileDir, { recursive: true });
  // Crashpad would write under ~/.config/chromium: keep it in the run's own dirs.
  const xdg = `${profileDir}-xdg`;
  fs.mkdirSync(xdg, { recursive: true });
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath,
    headless: true,
    args: CHROMIUM_FLAGS,
    env: { ...process.env, XDG_CONFIG_HOME: xdg, XDG_CACHE_HOME: xdg },
    viewport: { width: 1440, height: 900 },
    timeout: 60_000,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return { context, page };
}
