#!/usr/bin/env bash
# Quality table of the quantization presets on the embedded model (native/quant/README.md, "Results"):
# size on disk and held-out perplexity for 16-bit, then every preset with HQQ and with round-to-nearest.
#
#   native/quant/quality_table.sh build/native/moe [WORK_DIR] [CONTEXT]
#
# Quantized folders go to WORK_DIR (default a fresh temp dir, removed at the end). Size on disk is the
# safetensors shards only (config/tokenizer files are the same for all rows). Prints a Markdown table.
set -euo pipefail
MOE="$1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="${2:-$(mktemp -d)}"
CONTEXT="${3:-1024}"
MODEL="$ROOT/models/localmoe-code-tiny"
TOKENS="$ROOT/test/fixtures/embedded/heldout_tokens.txt"
[ -n "${2:-}" ] || trap 'rm -rf "$WORK"' EXIT

shard_bytes() { cat "$1"/*.safetensors | wc -c; }
ppl() { "$MOE" perplexity --model "$1" --tokens "$TOKENS" --context "$CONTEXT" |
          python3 -c 'import json,sys; r=json.load(sys.stdin); print("%.3f | %.4f" % (r["perplexity"], r["mean_nll"]))'; }

echo "| weights | method | size on disk (MB) | held-out perplexity | mean NLL (nats) |"
echo "|---|---|---:|---:|---:|"
echo "| 16-bit (bf16) | - | $(awk "BEGIN{printf \"%.2f\", $(shard_bytes "$MODEL")/1e6}") | $(ppl "$MODEL") |"
for preset in 4bit paper-3bit paper-2bit 2bit-g64; do
  for method in hqq rtn; do
    out="$WORK/$preset-$method"
    [ -d "$out" ] || "$MOE" quantize --model "$MODEL" --out "$out" --preset "$preset" --method "$method" >/dev/null 2>&1
    echo "| $preset | $method | $(awk "BEGIN{printf \"%.2f\", $(shard_bytes "$out")/1e6}") | $(ppl "$out") |"
  done
done
