#!/usr/bin/env node
// Builds everything `npm ci` must produce, with no manual step:
//   dist/extension.js       extension host bundle (vscode external)
//   dist/sidecar.js         sidecar bundle (plain Node; loads the addon)
//   dist/webview/*.js|.css  webview bundles (browser)
//   dist/native/            localmoe.node (N-API addon) and the `moe` CLI, built by cmake-js + CMake
//   out/test/**.test.js     test bundles for mocha (and out/test/suite/index.js for the editor suite)
// Flags: --ts-only, --native-only, --debug (native Debug build).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const doTs = !args.has('--native-only');
const doNative = !args.has('--ts-only');
const rel = (p) => path.join(root, p);

function walk(dir, pred, out = []) {
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== 'fixtures') walk(p, pred, out);
    } else if (pred(p)) out.push(p);
  }
  return out;
}

async function buildTs() {
  const common = { bundle: true, sourcemap: true, logLevel: 'warning', target: 'node20' };
  const jobs = [
    esbuild.build({
      ...common,
      entryPoints: [rel('src/extension.ts')],
      outfile: rel('dist/extension.js'),
      platform: 'node',
      format: 'cjs',
      external: ['vscode'],
    }),
    esbuild.build({
      ...common,
      entryPoints: [rel('src/sidecar/main.ts')],
      outfile: rel('dist/sidecar.js'),
      platform: 'node',
      format: 'cjs',
    }),
  ];
  // One browser bundle per webview folder with a main.ts (chat, bench, ...).
  for (const dir of fs.existsSync(rel('webview')) ? fs.readdirSync(rel('webview')) : []) {
    const entry = rel(`webview/${dir}/main.ts`);
    if (!fs.existsSync(entry)) continue;
    jobs.push(
      esbuild.build({
        ...common,
        target: 'es2022',
        entryPoints: { [dir]: entry },
        outdir: rel('dist/webview'),
        platform: 'browser',
        format: 'iife',
        loader: { '.css': 'css' },
      }),
    );
  }
  // Tests: each *.test.ts (and the editor suite's index.ts) becomes one bundle under out/test/.
  const tests = walk(rel('test'), (p) => p.endsWith('.test.ts') || p.endsWith(path.join('suite', 'index.ts')));
  if (tests.length) {
    jobs.push(
      esbuild.build({
        ...common,
        entryPoints: tests,
        outbase: rel('test'),
        outdir: rel('out/test'),
        platform: 'node',
        format: 'cjs',
        external: ['vscode', 'mocha', 'playwright-core', '*.node'],
      }),
    );
  }
  await Promise.all(jobs);
  console.log(`[build] TypeScript bundles: ${jobs.length} jobs (${tests.length} test files)`);
}

function run(cmd, argv, env = {}) {
  console.log(`[build] ${cmd} ${argv.join(' ')}`);
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${argv.join(' ')} failed (exit ${r.status ?? r.signal})`);
  }
}

function buildNative() {
  const config = args.has('--debug') ? 'Debug' : 'Release';
  const cmakeJs = rel('node_modules/cmake-js/bin/cmake-js');
  // The C++ tests are built and run by scripts/test-native.sh in their own trees; not here.
  const cmakeArgs = ['build', '-d', 'native', '-O', 'build/addon', '--CDLOCALMOE_BUILD_TESTS=OFF'];
  if (config === 'Debug') cmakeArgs.push('-D');
  run(process.execPath, [cmakeJs, ...cmakeArgs], {
    CMAKE_BUILD_PARALLEL_LEVEL: String(Math.max(1, os.availableParallelism?.() ?? os.cpus().length)),
  });
  const built = walk(rel('build/addon'), (p) => /(^|[/\\])(localmoe\.node|moe(\.exe)?)$/.test(p));
  const addon = built.find((p) => p.endsWith('localmoe.node'));
  const cli = built.find((p) => /moe(\.exe)?$/.test(path.basename(p)) && !p.endsWith('.node'));
  if (!addon) throw new Error('cmake-js finished but build/addon holds no localmoe.node');
  if (!cli) throw new Error('cmake-js finished but build/addon holds no moe executable');
  fs.mkdirSync(rel('dist/native'), { recursive: true });
  for (const f of [addon, cli]) {
    const dest = rel(`dist/native/${path.basename(f)}`);
    fs.copyFileSync(f, dest);
    fs.chmodSync(dest, 0o755);
  }
  console.log(`[build] native: dist/native/${path.basename(addon)}, dist/native/${path.basename(cli)}`);
}

try {
  if (doTs) await buildTs();
  if (doNative) buildNative();
} catch (err) {
  console.error(`[build] ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
