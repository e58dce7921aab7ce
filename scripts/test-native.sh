#!/usr/bin/env bash
# Builds and tests the native engine twice:
#   1. Release with -Werror into build/native, then ctest;
#   2. ASan + UBSan (leaks reported) into build/native-asan, then ctest.
# Works from a fresh clone (needs cmake >= 3.20, a C++20 compiler; ninja if present). Parallelism
# defaults to 2 jobs (shared 2-core machines); override with JOBS=N.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JOBS="${JOBS:-2}"
GENERATOR=()
if command -v ninja >/dev/null 2>&1; then GENERATOR=(-G Ninja); fi

configure() {  # configure BUILD_DIR EXTRA_ARGS...
  local dir="$1"; shift
  # Reuse an existing build folder only if it was made with the same generator.
  cmake -S "$ROOT/native" -B "$dir" "${GENERATOR[@]}" -DLOCALMOE_BUILD_TESTS=ON -DLOCALMOE_WERROR=ON "$@"
}

echo "== native: Release (-Werror) in build/native"
configure "$ROOT/build/native" -DCMAKE_BUILD_TYPE=Release -DLOCALMOE_SANITIZE=OFF
cmake --build "$ROOT/build/native" -j "$JOBS"
ctest --test-dir "$ROOT/build/native" --output-on-failure -j "$JOBS"

echo "== native: ASan + UBSan in build/native-asan"
configure "$ROOT/build/native-asan" -DCMAKE_BUILD_TYPE=Debug -DLOCALMOE_SANITIZE=ON -DLOCALMOE_CUDA=OFF  # CUDA is built and checked by the Release tree
cmake --build "$ROOT/build/native-asan" -j "$JOBS"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="report_objects=1"
ctest --test-dir "$ROOT/build/native-asan" --output-on-failure -j "$JOBS"

echo "== native: all tests passed (Release and ASan/UBSan)"
