#!/usr/bin/env bash
# Hybrid execution (issue #9) on the GPU machine: builds `moe` with CUDA, then
#   1. the embedded model quantized: greedy tokens identical (and logits within the CPU/GPU
#      tolerance) whichever way experts are served: all resident; 2 slots, every miss copied;
#      hybrid (cost model); hybrid with every miss forced to the CPU; static CPU layers (2, and all 8)
#      with and without a 2-slot cache; plus a compute-sanitizer pass over the forced-CPU path;
#   2. optional (BENCH=1): a Mixtral-8x7B-shaped synthetic model (`moe synth`, $PRESET): the same
#      token check on it, then `moe bench --ablate` at $BUDGET with $VARIANTS.
# Usage: OUT=dir scripts/gpu-hybrid-check.sh   (NATIVE_DIR=native BUILD_DIR=build/gpu BENCH=1
#        PRESET=2bit-g64 BUDGET=12GiB VARIANTS=lru+prefetch,hybrid,... PROMPT=32 GEN=64 REPEAT=2)
# Logs and bench JSON go to $OUT; scratch to $WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
results=${OUT:-build/gpu-out}
work=${WORK:-/tmp/localmoe-hybrid}
out=$work/out
mkdir -p "$results" "$out"
B=${BUILD_DIR:-build/gpu}
arch=${LOCALMOE_CUDA_ARCHITECTURES:-native}
echo "== build (CUDA architectures: $arch)"
cmake -S "${NATIVE_DIR:-native}" -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLOCALMOE_CUDA=ON \
  -DLOCALMOE_CUDA_ARCHITECTURES="$arch" -DLOCALMOE_BUILD_TESTS=OFF >"$results/cmake.log"
cmake --build "$B" -j"$(nproc)" --target moe >"$results/build.log" 2>&1 || { tail -40 "$results/build.log"; exit 1; }
moe=$B/moe
set +e  # from here every step reports and the script goes on; the exit status says if any failed
status=0

ids=1,28705,13,1270,1204,28730,5296,28732,28711,1329,28747,13,2287,3504,307,523,28705,28750,28747
compare() {  # compare A B TOLERANCE: prompt logits within TOLERANCE and greedy tokens identical
  python3 - "$out" "$1" "$2" "$3" <<'PY'
import json, sys, numpy as np
o, a, b, tol = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
ta = json.load(open(f"{o}/run_{a}.json"))["tokens"]; tb = json.load(open(f"{o}/run_{b}.json"))["tokens"]
try:
    la, lb = np.load(f"{o}/logits_{a}.npy"), np.load(f"{o}/logits_{b}.npy")
    d = float(np.abs(la - lb).max())
except FileNotFoundError:
    d = 0.0
ok = d <= tol and ta == tb
rb = json.load(open(f"{o}/run_{b}.json"))
print(f"{a} vs {b}: max |logit diff| = {d:.3g}; {len(ta)} greedy tokens identical: {ta == tb} -> "
      f"{'OK' if ok else 'FAIL'}  cache={rb.get('expert_cache')} cpu={rb.get('cpu_experts')}")
sys.exit(0 if ok else 1)
PY
}
run() {  # run NAME MODEL ARGS...: prompt logits + 48 greedy tokens
  local name=$1
  shift
  $moe run --model "$@" --prompt-ids $ids --max-new 48 --no-eos-stop --logits-out "$out/logits_$name.npy" \
    >"$out/run_$name.json" || { echo "run $name FAILED"; status=1; }
}

for p in ${PRESETS:-2bit-g64 paper-2bit}; do
  q=$work/tiny-$p
  [ -d "$q" ] || $moe quantize --model models/localmoe-code-tiny --out "$q" --preset "$p" >/dev/null
  echo "== $p: hybrid execution vs all resident (embedded model)"
  run "$p-res" "$q" --device cuda
  run "$p-copy" "$q" --device cuda --expert-slots 2 --lookahead 1
  run "$p-hyb" "$q" --device cuda --expert-slots 2 --lookahead 1 --hybrid
  LOCALMOE_HYBRID_FORCE=cpu run "$p-hybcpu" "$q" --device cuda --expert-slots 2 --lookahead 1 --hybrid
  LOCALMOE_HYBRID_FORCE=cpu run "$p-hybcpu0" "$q" --device cuda --expert-slots 2 --lookahead 0 --policy none --hybrid
  run "$p-static2" "$q" --device cuda --cpu-expert-layers 2
  run "$p-static2s" "$q" --device cuda --cpu-expert-layers 2 --expert-slots 2 --hybrid
  run "$p-allcpu" "$q" --device cuda --cpu-expert-layers 8
  # Decode-only changes keep the prefill path: logits identical. CPU layers prefill on the CPU:
  # logits within the CPU-vs-GPU kernel tolerance (gpu-quant-check.sh uses the same 2e-3).
  for v in copy hyb hybcpu hybcpu0; do compare "$p-res" "$p-$v" 0 || status=1; done
  for v in static2 static2s allcpu; do compare "$p-res" "$p-$v" 2e-3 || status=1; done
done

echo "== compute-sanitizer memcheck (every miss on the CPU; static CPU layers)"
q=$work/tiny-2bit-g64
for extra in "--expert-slots 2 --hybrid" ${MEMCHECK_STATIC:+"--cpu-expert-layers 3 --expert-slots 3"}; do
  # shellcheck disable=SC2086
  LOCALMOE_HYBRID_FORCE=cpu compute-sanitizer --tool memcheck --error-exitcode 9 --print-limit 5 \
    $moe run --device cuda --model "$q" --prompt-ids 1,5,7,9,11,13,17,19,23,29,31 --max-new 12 --no-eos-stop \
    $extra >/dev/null && echo "memcheck clean: $extra" || { echo "memcheck FAILED: $extra"; status=1; }
done

if [ "${BENCH:-0}" = 1 ]; then
  p=${PRESET:-2bit-g64}
  s=$work/mixtral-$p
  if [ ! -d "$s" ]; then
    echo "== moe synth mixtral-8x7b $p"
    /usr/bin/time -f "synth: %e s, peak RSS %M KB" $moe synth --shape mixtral-8x7b --preset "$p" --out "$s" 2>&1 | tail -2
  fi
  echo "== $p synthetic: greedy tokens, hybrid / static vs all resident (32 tokens)"
  sids=1,3001,4002,5003,6004,7005,8006,9007
  srun() {
    local name=$1
    shift
    LOCALMOE_HYBRID_VERBOSE=1 $moe run --model "$s" --device cuda --prompt-ids $sids --max-new 32 --no-eos-stop "$@" \
      >"$out/run_$name.json" || { echo "run $name FAILED"; status=1; }
  }
  srun syn-res
  srun syn-hyb --vram-budget-mib 12288 --hybrid
  srun syn-static --vram-budget-mib 12288 --cpu-expert-layers 8
  for v in hyb static; do compare syn-res "syn-$v" 0 || status=1; done
  # Two invocations (each writes its JSON at the end): the GPU variants first, then the CPU-heavy ones.
  i=0
  for vs in "${VARIANTS:-lru+prefetch,hybrid,cpu-layers-8,all-resident}" "${VARIANTS2:-all-cpu,cpu-only}"; do
    i=$((i + 1))
    echo "== moe bench --ablate, budget ${BUDGET:-12GiB}, $p: $vs"
    timeout "${BENCH_TIMEOUT:-200}" $moe bench --model "$s" --device cuda --prompt-len "${PROMPT:-32}" --gen "${GEN:-64}" \
      --repeat "${REPEAT:-2}" --ablate --vram-budget "${BUDGET:-12GiB}" --variants "$vs" \
      --out "$results/bench-hybrid-$p-$i.json" 2> >(grep -v '^progress' >&2) || status=1
  done
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
exit $status
