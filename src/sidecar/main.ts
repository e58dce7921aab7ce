#!/usr/bin/env node
// Entry point of dist/sidecar.js (the hashbang survives bundling, so package.json "bin" can name it):
//   node dist/sidecar.js              the editor's sidecar: JSON-RPC over stdio (stdio.ts)
//   localmoe serve --model DIR ...    the OpenAI-compatible endpoint without the editor (src/cli/)
import { runCli } from '../cli/main';
import { runStdioSidecar } from './stdio';

const args = process.argv.slice(2);
if (args.length > 0 || process.stdin.isTTY) {
  // A person at a terminal, not the extension (which always pipes stdin and passes no arguments).
  void runCli(args).then((code) => {
    if (code !== undefined) process.exit(code);
  });
} else {
  runStdioSidecar();
}
