#!/bin/sh
# `moe` exit codes and output: usage errors -> 2, engine errors -> 1, a good run prints one JSON line
# with the reference's greedy tokens, --logits-out writes a [T, vocab] float32 .npy, and
# `moe perplexity` counts windows and scored tokens and names bad token files.
# usage: test_cli.sh MOE_BINARY REPO_ROOT
set -u
MOE=$1
ROOT=$2
FIX=$ROOT/test/fixtures/golden/tiny-fp32
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0
expect() {  # expect CODE CMD...
  want=$1; shift
  "$@" >"$TMP/out" 2>"$TMP/err"
  got=$?
  if [ "$got" -ne "$want" ]; then
    echo "FAIL: exit $got (want $want): $*"; cat "$TMP/err"; fail=1
  fi
}
expect 2 "$MOE"
expect 2 "$MOE" frobnicate
expect 2 "$MOE" run --prompt-ids 1,2
expect 2 "$MOE" run --model "$FIX" --prompt-ids 1,x
expect 2 "$MOE" run --model "$FIX" --prompt-ids 1 --bogus
expect 2 "$MOE" run --model "$FIX" --prompt-ids 1 --max-new
expect 2 "$MOE" run --model "$FIX" --prompt-ids 1 --top-p 1.5
expect 1 "$MOE" run --model "$TMP/nowhere" --prompt-ids 1
grep -q "config.json not found" "$TMP/err" || { echo "FAIL: missing-model message"; cat "$TMP/err"; fail=1; }
expect 1 "$MOE" run --model "$FIX" --prompt-ids 1,99999
grep -q "outside the vocabulary" "$TMP/err" || { echo "FAIL: vocab message"; fail=1; }
expect 0 "$MOE" info --model "$FIX"
grep -q '"num_experts": 8' "$TMP/out" || { echo "FAIL: info output"; cat "$TMP/out"; fail=1; }
# tiny-fp32 case 1 of reference.json: prompt and its greedy continuation.
expect 0 "$MOE" run --model "$FIX" --prompt-ids 1,161,281,223,496 --max-new 8 --no-eos-stop --threads 2 \
  --logits-out "$TMP/l.npy"
grep -q '"tokens":\[388,436,441,343,6,395,343,77\]' "$TMP/out" || { echo "FAIL: greedy tokens"; cat "$TMP/out"; fail=1; }
grep -q '"stop_reason":"max_tokens"' "$TMP/out" || { echo "FAIL: run output"; cat "$TMP/out"; fail=1; }
[ "$(wc -l <"$TMP/out")" -eq 1 ] || { echo "FAIL: run prints one line"; fail=1; }
# .npy: 128-byte header for this shape + 5 x 512 float32.
size=$(wc -c <"$TMP/l.npy")
[ "$size" -eq $((128 + 5 * 512 * 4)) ] || { echo "FAIL: logits file size $size"; fail=1; }
head -c 80 "$TMP/l.npy" | grep -q "'shape': (5, 512)" || { echo "FAIL: npy shape"; fail=1; }
# moe perplexity: windows of --context tokens, each scoring all but its first token; bad files -> 1.
printf '# comment line\n1 161 281\n223 496 388 436\n' >"$TMP/tokens.txt"
expect 0 "$MOE" perplexity --model "$FIX" --tokens "$TMP/tokens.txt" --context 4 --threads 2
grep -q '"tokens_scored":5,' "$TMP/out" || { echo "FAIL: perplexity scored tokens (7 ids, windows 4+3)"; cat "$TMP/out"; fail=1; }
grep -q '"windows":2}' "$TMP/out" || { echo "FAIL: perplexity windows"; cat "$TMP/out"; fail=1; }
expect 2 "$MOE" perplexity --model "$FIX"
expect 1 "$MOE" perplexity --model "$FIX" --tokens "$TMP/none.txt"
grep -q "cannot open token file" "$TMP/err" || { echo "FAIL: missing token file message"; cat "$TMP/err"; fail=1; }
printf '1 2 x\n' >"$TMP/bad.txt"
expect 1 "$MOE" perplexity --model "$FIX" --tokens "$TMP/bad.txt"
grep -q "bad.txt:1: 'x' is not a token id" "$TMP/err" || { echo "FAIL: bad token message"; cat "$TMP/err"; fail=1; }
printf '1 2 600\n' >"$TMP/big.txt"
expect 1 "$MOE" perplexity --model "$FIX" --tokens "$TMP/big.txt"
grep -q "outside the model's vocabulary" "$TMP/err" || { echo "FAIL: vocab message (perplexity)"; cat "$TMP/err"; fail=1; }
# moe bench --scenario completion (issue #10): the first 3 requests of the committed trace on the
# embedded model; the JSON is written via FILE.tmp and says both variants gave the same tokens.
expect 0 "$MOE" bench --scenario completion --model "$ROOT/models/localmoe-code-tiny" \
  --trace "$ROOT/bench/traces/completion-session.json" --limit 3 --max-new 4 --threads 2 --out "$TMP/bc.json"
grep -q '"outputs_identical": true' "$TMP/bc.json" || { echo "FAIL: bench completion output"; cat "$TMP/bc.json"; fail=1; }
grep -q '"schema": "localmoe.bench-completion/1"' "$TMP/bc.json" || { echo "FAIL: bench completion schema"; fail=1; }
[ ! -e "$TMP/bc.json.tmp" ] || { echo "FAIL: bench completion left its .tmp"; fail=1; }
expect 1 "$MOE" bench --scenario completion --model "$ROOT/models/localmoe-code-tiny" --trace "$TMP/none.json"
grep -q "make-completion-trace.mjs" "$TMP/err" || { echo "FAIL: missing trace message"; cat "$TMP/err"; fail=1; }
# moe run --record-routing + moe bench --routing-trace (issue #8): a trace of every token's experts,
# replayed through the cache policies; with every expert cached only first uses miss.
expect 0 "$MOE" run --model "$FIX" --prompt-ids 1,161,281 --max-new 6 --no-eos-stop --record-routing "$TMP/rt.json"
grep -q '"schema":"localmoe.routing-trace/1"' "$TMP/rt.json" || { echo "FAIL: routing trace schema"; fail=1; }
expect 0 "$MOE" bench --routing-trace "$TMP/rt.json" --out "$TMP/br.json"
grep -q '"schema": "localmoe.bench-routing/1"' "$TMP/br.json" || { echo "FAIL: bench routing schema"; cat "$TMP/br.json"; fail=1; }
grep -q '"optimal"' "$TMP/br.json" || { echo "FAIL: bench routing rows"; fail=1; }
echo '{"schema":"other"}' >"$TMP/rt-bad.json"
expect 1 "$MOE" bench --routing-trace "$TMP/rt-bad.json"
grep -q "record one with moe run --record-routing" "$TMP/err" || { echo "FAIL: bad trace message"; cat "$TMP/err"; fail=1; }
# moe bench --replay-routing: GPU only (usage error on the CPU), and a malformed trace is named.
expect 2 "$MOE" bench --model "$FIX" --replay-routing "$TMP/rt.json"
grep -q "needs --device cuda" "$TMP/err" || { echo "FAIL: replay on cpu message"; cat "$TMP/err"; fail=1; }
echo '{"schema":"localmoe.routing-trace/1","layers":2,"experts":8,"experts_per_token":2,"tokens":[[1,2,3]]}' >"$TMP/rt-short.json"
expect 1 "$MOE" bench --routing-trace "$TMP/rt-short.json"
grep -q "does not hold layers x experts_per_token" "$TMP/err" || { echo "FAIL: short trace row message"; cat "$TMP/err"; fail=1; }
[ $fail -eq 0 ] && echo "test_cli: all checks passed"
exit $fail
