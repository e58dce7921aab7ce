#!/usr/bin/env bash
# GPU checks, run on the GPU machine (no Node there): builds the engine with the CUDA backend,
# runs the golden tests (transformers reference) on the CUDA backend, compares CUDA with the CPU
# backend on the embedded model (logits + greedy tokens), runs compute-sanitizer memcheck on a
# CUDA generation, and times decode. Usage: scripts/gpu-check.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-${OUT:-build/gpu-out}}
mkdir -p "$out"
B=build/gpu
arch=${LOCALMOE_CUDA_ARCHITECTURES:-native}
echo "== build (CUDA architectures: $arch)"
cmake -S "${NATIVE_DIR:-native}" -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DLOCALMOE_CUDA=ON \
  -DLOCALMOE_CUDA_ARCHITECTURES="$arch" >"$out/cmake.log"
cmake --build $B -j"$(nproc)" --target moe test_golden >"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }

echo "== golden tests on the CUDA backend"
LOCALMOE_TEST_DEVICE=cuda $B/tests/test_golden test/fixtures/golden test/fixtures/embedded | tail -8

echo "== CPU vs CUDA on the embedded model"
M=models/localmoe-code-tiny
ids=1,28705,13,1270,1204,28730,5296,28732,28711,1329,28747,13,2287,3504,307,523,28705,28750,28747
for d in cpu cuda; do
  $B/moe run --device $d --model $M --prompt-ids $ids --max-new 48 --no-eos-stop \
    --logits-out "$out/logits_$d.npy" >"$out/run_$d.json"
  cat "$out/run_$d.json"
done
python3 - "$out" <<'PY'
import json, sys, numpy as np
o = sys.argv[1]
a, b = np.load(f"{o}/logits_cpu.npy"), np.load(f"{o}/logits_cuda.npy")
ta = json.load(open(f"{o}/run_cpu.json"))["tokens"]; tb = json.load(open(f"{o}/run_cuda.json"))["tokens"]
d = float(np.abs(a - b).max())
print(f"max |logit cpu - cuda| = {d:.3g} over {a.shape}; greedy tokens identical: {ta == tb}")
assert d < 3e-4 and ta == tb, "CUDA and CPU disagree"
PY

echo "== compute-sanitizer memcheck (CUDA generation, sharded bf16 fixture + embedded model)"
for m in test/fixtures/golden/tiny-bf16-sharded test/fixtures/golden/tiny-fp16-swa-tied $M; do
  compute-sanitizer --tool memcheck --error-exitcode 9 --print-limit 5 \
    $B/moe run --device cuda --model $m --prompt-ids 1,5,7,9,11,13,17,19 --max-new 12 --no-eos-stop >/dev/null
  echo "memcheck clean: $m"
done

echo "== decode speed, embedded model (512-token prompt, 256 new tokens, 5 runs)"
prompt=$(python3 -c "print(','.join(['1'] + [str(300 + (i * 37) % 20000) for i in range(511)]))")
for d in cuda cpu; do
  for r in 1 2 3 4 5; do
    $B/moe run --device $d --model $M --prompt-ids "$prompt" --max-new 256 --no-eos-stop --context 1024
  done >"$out/speed_$d.jsonl"
  python3 - "$out/speed_$d.jsonl" $d <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
pf = sorted(r["prefill_tok_s"] for r in rows); dc = sorted(r["decode_tok_s"] for r in rows)
print(f"{sys.argv[2]}: {rows[0]['backend']}: prefill median {statistics.median(pf):.0f} tok/s "
      f"(min {pf[0]:.0f}), decode median {statistics.median(dc):.0f} tok/s (min {dc[0]:.0f})")
PY
done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
