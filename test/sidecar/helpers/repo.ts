// Paths the sidecar and addon tests share. Tests run from bundles in out/test/**, so the repository
// root is found by walking up to our package.json rather than from a fixed relative path.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

export function repoRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (
      existsSync(pkg) &&
      (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'localmoe'
    )
      return dir;
    if (path.dirname(dir) === dir) throw new Error(`no localmoe package.json above ${from}`);
  }
}

/** The built addon: LOCALMOE_ADDON, else dist/native/localmoe.node (scripts/build.mjs puts it there). */
export function addonFile(): string {
  const override = process.env.LOCALMOE_ADDON;
  return override
    ? path.resolve(override)
    : path.join(repoRoot(), 'dist', 'native', 'localmoe.node');
}

export function goldenDir(name: string): string {
  return path.join(repoRoot(), 'test', 'fixtures', 'golden', name);
}

export interface GoldenCase {
  prompt: number[];
  greedy: number[];
}

export function goldenCases(name: string): GoldenCase[] {
  return (
    JSON.parse(readFileSync(path.join(goldenDir(name), 'reference.json'), 'utf8')) as {
      cases: GoldenCase[];
    }
  ).cases;
}
