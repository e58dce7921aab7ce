#!/usr/bin/env bash
# `npm test`: everything that runs without a GPU, in order of cost. Every step runs even when an
# earlier one fails, so one run shows all failures; the exit code is non-zero if any step failed.
#   build       incremental rebuild of bundles, test bundles and the native addon/CLI
#   typecheck   tsc --noEmit (strict), eslint
#   native      C++ unit + golden tests (CTest), then the same under ASan+UBSan
#   unit        mocha: pure TypeScript logic, tokenizer equality
#   integration mocha: real addon + sidecar on real models
#   e2e         code-server + Chromium: the extension in a real editor (screenshots in test-artifacts/)
set -uo pipefail
cd "$(dirname "$0")/.."
log_dir=test-artifacts/logs
mkdir -p "$log_dir"
failed=()
passed_total=0
failed_total=0

step() {
  local name=$1; shift
  echo
  echo "=== [$name] $*"
  local start=$SECONDS
  "$@" 2>&1 | tee "$log_dir/$name.log"
  local rc=${PIPESTATUS[0]}
  # Count tests from the runners' own summaries (mocha: "N passing/failing"; ctest: "N tests failed out of M").
  local p f
  p=$(grep -Eo '^ *[0-9]+ passing' "$log_dir/$name.log" | awk '{s+=$1} END {print s+0}')
  f=$(grep -Eo '^ *[0-9]+ failing' "$log_dir/$name.log" | awk '{s+=$1} END {print s+0}')
  while read -r nf total; do
    p=$((p + total - nf)); f=$((f + nf))
  done < <(grep -Eo '[0-9]+ tests failed out of [0-9]+' "$log_dir/$name.log" | awk '{print $1, $6}')
  passed_total=$((passed_total + p)); failed_total=$((failed_total + f))
  echo "=== [$name] exit $rc after $((SECONDS - start)) s ($p passed, $f failed)"
  [ "$rc" -eq 0 ] || failed+=("$name")
}

step build node scripts/build.mjs
step typecheck bash -c 'npx tsc -p . --noEmit && npx eslint src webview test'
step native bash scripts/test-native.sh
step unit npx mocha --timeout 120000 'out/test/unit/**/*.test.js' 'test/tokenizer/*.test.js'
step integration npx mocha --timeout 120000 'out/test/addon/**/*.test.js' 'out/test/sidecar/**/*.test.js' 'out/test/http/**/*.test.js'
step e2e node test/e2e/run.mjs

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED steps: ${failed[*]}"
  echo "$passed_total passed, $failed_total failed"
  exit 1
fi
echo "all steps passed"
echo "$passed_total passed, $failed_total failed"
