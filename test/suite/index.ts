// Entry of the in-editor test suite (the @vscode/test-electron layout): VS Code — or code-server
// with the smoke-test driver, as CI runs it — loads this file in the extension host and calls
// run(). It runs every *.test.js bundled next to it (out/test/suite/) with mocha.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Mocha from 'mocha';

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 180_000 });
  const files = fs
    .readdirSync(__dirname)
    .filter((f) => f.endsWith('.test.js'))
    .sort();
  for (const f of files) mocha.addFile(path.join(__dirname, f));
  return new Promise((resolve, reject) => {
    try {
      mocha.run((failures) =>
        failures > 0 ? reject(new Error(`${failures} in-editor test(s) failed`)) : resolve(),
      );
    } catch (e) {
      reject(e);
    }
  });
}
