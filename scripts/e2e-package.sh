#!/usr/bin/env bash
# Packages the extension as a .vsix and checks that it holds what the product needs to run.
#   scripts/e2e-package.sh OUT.vsix [--force]
# Builds first if dist/ is incomplete (`npm ci` normally built it). Reuses OUT.vsix when it is newer
# than every packaged input (dist/, models/localmoe-code-tiny/, media/, package.json), unless --force.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "[e2e-package] $*"; }
die() { echo "[e2e-package] ERROR: $*" >&2; exit 1; }

OUT="${1:?usage: scripts/e2e-package.sh OUT.vsix [--force]}"
FORCE="${2:-}"
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac

# Files the product cannot run without (the bundle is self-contained: no node_modules needed).
REQUIRED=(
  extension/package.json
  extension/dist/extension.js
  extension/dist/sidecar.js
  extension/dist/native/localmoe.node
  extension/models/localmoe-code-tiny/config.json
  extension/models/localmoe-code-tiny/tokenizer.json
)

need_build=0
for f in dist/extension.js dist/sidecar.js dist/native/localmoe.node; do
  [[ -f $f ]] || { log "missing $f"; need_build=1; }
done
if [[ $need_build == 1 ]]; then
  log "building (npm run build)"
  npm run --silent build || die "build failed: run 'npm run build' and fix what it reports"
  for f in dist/extension.js dist/sidecar.js dist/native/localmoe.node; do
    [[ -f $f ]] || die "the build did not produce $f"
  done
fi
[[ -d models/localmoe-code-tiny ]] || die "models/localmoe-code-tiny/ is missing (the embedded model)"

inputs=(dist models/localmoe-code-tiny package.json .vscodeignore)
[[ -d media ]] && inputs+=(media)
if [[ -f "$OUT" && "$FORCE" != "--force" ]] && [[ -z "$(find "${inputs[@]}" -newer "$OUT" -print -quit)" ]]; then
  log "up to date: $OUT"
else
  mkdir -p "$(dirname "$OUT")"
  rm -f "$OUT.tmp.vsix"
  log "npx vsce package -> $OUT"
  # --no-dependencies: esbuild bundles everything into dist/; node_modules is not shipped.
  # --skip-license / --allow-missing-repository: vsce would otherwise stop and ask on stdin.
  npx --no-install vsce package --no-dependencies --skip-license --allow-missing-repository \
    -o "$OUT.tmp.vsix" </dev/null ||
    die "vsce package failed (see above)"
  mv "$OUT.tmp.vsix" "$OUT"
fi

listing="$(unzip -Z1 "$OUT")" || die "$OUT is not a readable zip"
for f in "${REQUIRED[@]}"; do
  grep -qxF "$f" <<<"$listing" || die "$OUT lacks $f (check .vscodeignore and the build)"
done
grep -q '^extension/media/' <<<"$listing" || log "note: no media/ files in the package"
log "ok: $(grep -c . <<<"$listing") files, $(du -h "$OUT" | cut -f1) -> $OUT"
