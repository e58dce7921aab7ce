#!/usr/bin/env bash
# Quantized models on the GPU machine (no Node there): builds `moe` with CUDA, then
#   1. CUDA vs CPU on the embedded model quantized with each preset: prompt logits (prefill path)
#      and 48 greedy tokens (decode path, replayed as a CUDA graph);
#   2. expert offloading: a 2-slot cache (evictions every token), with and without speculative
#      loading, and the no-cache policy, against all-resident: identical tokens and logits;
#   3. compute-sanitizer memcheck on the resident (graph) and offloaded paths, and on the
#      tensor-core prefill matmul (packed_gemm_check --quick);
#   0. packed_gemm_check: the tensor-core prefill matmul against the fp32 kernel at Mixtral shapes;
#   4. optional (BENCH=1): Mixtral-8x7B-shaped synthetic models (`moe synth`) through `moe bench`;
#      COMPARE_TILE=1 also benches the token-tile kernel for decode, NCU=1 profiles decode kernels.
# Usage: OUT=dir scripts/gpu-quant-check.sh   (PRESETS="paper-2bit 4bit" BENCH=1 BUDGET=12GiB)
# Logs and bench JSON go to $OUT (few files: the device tool returns at most eight); scratch to $WORK.
set -euo pipefail
cd "$(dirname "$0")/.."
results=${OUT:-build/gpu-out}
work=${WORK:-/tmp/localmoe-gpu}
out=$work/out
mkdir -p "$results" "$out"
B=${BUILD_DIR:-build/gpu}
arch=${LOCALMOE_CUDA_ARCHITECTURES:-native}
echo "== build (CUDA architectures: $arch)"
cmake -S "${NATIVE_DIR:-native}" -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLOCALMOE_CUDA=ON \
  -DLOCALMOE_CUDA_ARCHITECTURES="$arch" -DLOCALMOE_BUILD_TESTS=OFF >"$results/cmake.log"
cmake --build "$B" -j"$(nproc)" --target moe packed_gemm_check >"$results/build.log" 2>&1 || { tail -40 "$results/build.log"; exit 1; }
moe=$B/moe
set +e  # from here every step reports and the script goes on; the exit status says if any failed

M=models/localmoe-code-tiny
ids=1,28705,13,1270,1204,28730,5296,28732,28711,1329,28747,13,2287,3504,307,523,28705,28750,28747
compare() {  # compare NAME_A NAME_B TOLERANCE (relN: N * max |logit|): logits and tokens of two runs
  python3 - "$out" "$1" "$2" "$3" <<'PY'
import json, sys, numpy as np
o, a, b, tol = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
la, lb = np.load(f"{o}/logits_{a}.npy"), np.load(f"{o}/logits_{b}.npy")
tol = float(tol[3:]) * float(np.abs(la).max()) if tol.startswith("rel") else float(tol)
ta = json.load(open(f"{o}/run_{a}.json"))["tokens"]; tb = json.load(open(f"{o}/run_{b}.json"))["tokens"]
d = float(np.abs(la - lb).max()); scale = float(np.abs(la).max())
ok = d <= tol and ta == tb
print(f"{a} vs {b}: max |logit diff| = {d:.3g} (max |logit| {scale:.3g}); greedy tokens identical: {ta == tb}"
      f" -> {'OK' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
PY
}
run() {  # run NAME ARGS...: logits of the prompt + 48 greedy tokens
  local name=$1
  shift
  $moe run --model "$@" --prompt-ids $ids --max-new 48 --no-eos-stop --logits-out "$out/logits_$name.npy" \
    >"$out/run_$name.json"
}

status=0
echo "== packed_gemm_check: tensor-core prefill matmul vs the fp32 kernel"
$B/packed_gemm_check || status=1
for p in ${PRESETS:-paper-2bit paper-3bit 4bit 2bit-g64}; do
  q=$work/tiny-$p
  [ -d "$q" ] || $moe quantize --model $M --out "$q" --preset "$p" >/dev/null
  echo "== $p: CUDA vs CPU"
  run "$p-cpu" "$q" --device cpu || status=1
  run "$p-cuda" "$q" --device cuda || status=1
  cat "$out/run_$p-cuda.json"; echo
  # Prompts of >= 16 tokens take the tensor-core matmul (fp16 operands: ~1e-3 relative error per
  # product), so the prefill logits get a tolerance relative to their scale; greedy tokens must match.
  compare "$p-cpu" "$p-cuda" rel2.5e-3 || status=1
  echo "== $p: tensor-core matmul for every prefill product (LOCALMOE_TC_MIN_T=2), and off"
  LOCALMOE_TC_MIN_T=2 run "$p-cuda-tc" "$q" --device cuda || status=1
  compare "$p-cpu" "$p-cuda-tc" rel2.5e-3 || status=1
  LOCALMOE_TC_MIN_T=100000 LOCALMOE_CUDA_DECODE_KERNEL=tile run "$p-cuda-fp32" "$q" --device cuda || status=1
  compare "$p-cpu" "$p-cuda-fp32" 2e-3 || status=1
  # A one-token prompt runs the decode kernels (packed_gemv.cuh) for every matrix: logits compared.
  for d in cpu cuda; do
    $moe run --model "$q" --device $d --prompt-ids 1 --max-new 16 --no-eos-stop \
      --logits-out "$out/logits_$p-$d-1tok.npy" >"$out/run_$p-$d-1tok.json" || status=1
  done
  compare "$p-cpu-1tok" "$p-cuda-1tok" rel2.5e-3 || status=1
  echo "== $p: offloading (2 slots per layer) vs all resident on CUDA"
  run "$p-slots2" "$q" --device cuda --expert-slots 2 --lookahead 0 || status=1
  run "$p-slots2-pf" "$q" --device cuda --expert-slots 2 --lookahead 2 --guesses 2 || status=1
  run "$p-naive" "$q" --device cuda --expert-slots 2 --policy none --lookahead 0 || status=1
  run "$p-lfu3" "$q" --device cuda --expert-slots 3 --policy lfu --lookahead 1 || status=1
  for v in slots2 slots2-pf naive lfu3; do
    compare "$p-cuda" "$p-$v" 0 || status=1
    python3 -c "import json; print('   ', json.load(open('$out/run_$p-$v.json')).get('expert_cache'))"
  done
done

if [ "${MEMCHECK:-1}" = 1 ]; then  # MEMCHECK=0 skips this step
echo "== compute-sanitizer memcheck (paper-2bit: resident + graph, offloaded + speculative)"
q=$work/tiny-paper-2bit
for extra in "" "--expert-slots 2 --lookahead 2"; do
  # shellcheck disable=SC2086
  compute-sanitizer --tool memcheck --error-exitcode 9 --print-limit 5 \
    $moe run --device cuda --model "$q" --prompt-ids 1,5,7,9,11,13,17,19,23,29,31 --max-new 12 --no-eos-stop \
    $extra >"$out/memcheck.txt" && echo "memcheck clean: paper-2bit $extra" ||
    { echo "memcheck FAILED: $extra"; grep -m 12 "=========" "$out/memcheck.txt"; status=1; }
done
LOCALMOE_TC_MIN_T=2 compute-sanitizer --tool memcheck --error-exitcode 9 --print-limit 5 \
  $moe run --device cuda --model "$q" --prompt-ids 1,5,7,9,11,13,17,19,23,29,31 --max-new 4 --no-eos-stop >/dev/null \
  && echo "memcheck clean: tensor-core prefill (all products)" || { echo "memcheck FAILED: tensor-core prefill"; status=1; }
compute-sanitizer --tool memcheck --error-exitcode 9 --print-limit 5 $B/packed_gemm_check --quick >/dev/null \
  && echo "memcheck clean: packed_gemm_check --quick" || { echo "memcheck FAILED: packed_gemm_check"; status=1; }
fi

if [ "${BENCH:-0}" = 1 ]; then
  for p in ${BENCH_PRESETS:-paper-2bit}; do
    s=$work/mixtral-$p
    if [ ! -d "$s" ]; then
      echo "== moe synth mixtral-8x7b $p"
      /usr/bin/time -f "synth: %e s, peak RSS %M KB" $moe synth --shape mixtral-8x7b --preset "$p" --out "$s" 2>&1 | tail -2
    fi
    echo "== $p Mixtral shape: one-token prompt (decode kernels at full size), CUDA vs CPU"
    for d in cpu cuda; do
      $moe run --model "$s" --device $d --prompt-ids 1 --max-new 3 --no-eos-stop \
        --logits-out "$out/logits_mixtral-$p-$d.npy" >"$out/run_mixtral-$p-$d.json" || status=1
    done
    # Decode kernels round inputs to fp16 (2^-11 relative) in every product of 32 layers; measured
    # 3.6e-3 relative to max |logit| (2.9 for random weights: small logits, so relative is strict).
    compare "mixtral-$p-cpu" "mixtral-$p-cuda" rel5e-3 || status=1
    echo "== $p Mixtral shape: offloaded (2 slots per layer, speculative loading) vs all resident, bitwise"
    for v in resident slots2; do
      extra=""; [ $v = slots2 ] && extra="--expert-slots 2 --lookahead 1"
      # shellcheck disable=SC2086
      $moe run --model "$s" --device cuda --prompt-ids 1,2,3,4,5,6,7,8 --max-new 8 --no-eos-stop $extra \
        --logits-out "$out/logits_mixtral-$p-$v.npy" >"$out/run_mixtral-$p-$v.json" || status=1
    done
    compare "mixtral-$p-resident" "mixtral-$p-slots2" 0 || status=1
    if [ "${PROFILE:-0}" = 1 ] && [ "$p" = "${ABLATE_PRESET:-paper-2bit}" ]; then
      pl=${PROFILE_PROMPT:-64}
      echo "== GPU time per op (LOCALMOE_CUDA_TIMING: graphs off), $pl-token prompt + ${PROFILE_GEN:-64} decode tokens, $p"
      pids=$(python3 -c "print(','.join(str(3 + 97 * i % 31000) for i in range($pl)))")
      LOCALMOE_CUDA_TIMING=1 $moe run --model "$s" --device cuda --prompt-ids "$pids" --max-new "${PROFILE_GEN:-64}" --no-eos-stop
      echo
      for c in ${PROFILE_CHUNKS:-}; do  # prompt throughput per prefill chunk size (timing off)
        echo "prefill chunk $c: $($moe run --model "$s" --device cuda --prompt-ids "$pids" --max-new 2 --no-eos-stop \
          --prefill-chunk "$c" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["prefill_tok_s"], "tok/s")')"
      done
    fi
    echo "== moe bench, all resident, $p"
    $moe bench --model "$s" --device cuda --prompt-len 512 --gen 128 --repeat 3 --out "$results/bench-resident-$p.json" \
      2> >(grep -v '^progress' >&2)
    if [ "${COMPARE_TILE:-0}" = 1 ]; then  # the token-tile kernel for decode too: before/after on one machine
      echo "== moe bench, all resident, $p, LOCALMOE_CUDA_DECODE_KERNEL=tile"
      LOCALMOE_CUDA_DECODE_KERNEL=tile $moe bench --model "$s" --device cuda --prompt-len 512 --gen 128 --repeat 2 \
        --out "$work/bench-tile-$p.json" 2> >(grep -v '^progress' >&2) | tail -4
    fi
    if [ "${NCU:-0}" = 1 ] && command -v ncu >/dev/null; then  # a few decode kernels, key sections
      echo "== ncu: decode kernels, $p (full report in ncu-$p.txt)"
      ncu -k regex:"${NCU_KERNELS:-gemv}" --launch-skip 300 --launch-count "${NCU_COUNT:-4}" \
        --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section Occupancy \
        --section LaunchStats --section SchedulerStats \
        --metrics "regex:smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio" \
        $moe run --model "$s" --device cuda --prompt-ids 1,2,3 --max-new 24 --no-eos-stop >"$results/ncu-$p.txt" 2>&1
      grep -E "gemv_kernel|packed_matvec_kernel|Duration|DRAM Throughput|Memory Throughput|Compute \(SM\)|Achieved Occupancy|Registers Per|No Eligible|stalled_(long_sc|short_sc|wait|barrier|mio|math|lg_thr|not_sel|selected|dispatch|no_inst|branch|sleep|tex)" \
        "$results/ncu-$p.txt" | sed -E 's/smsp__average_warps_issue_stalled_//; s/_per_issue_active.ratio//' | head -120
    fi
    if [ -n "${BUDGET:-}" ] && [ "$p" = "${ABLATE_PRESET:-paper-2bit}" ]; then
      echo "== moe bench --ablate, budget $BUDGET, $p"
      $moe bench --model "$s" --device cuda --prompt-len 512 --gen 64 --repeat 2 --ablate --vram-budget "$BUDGET" \
        --out "$results/bench-ablate-$p.json" 2> >(grep -v '^progress' >&2)
    fi
    [ "${KEEP_SYNTH:-0}" = 1 ] || rm -rf "$s"
  done
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
exit $status
