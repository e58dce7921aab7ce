#!/usr/bin/env bash
# One call on the GPU machine: train localmoe-code-tiny, evaluate, routing stats, samples, fixtures.
# Needs .corpus/ (python3 models/scripts/build_corpus.py) carried along; results go to $OUT:
#   model-0000k-of-0000n.safetensors (one file each) + bundle.tgz (config, index, results, fixtures, log)
set -o pipefail
export PYTHONUNBUFFERED=1
MINUTES=${MINUTES:-7.3}
W=/tmp/localmoe-train
rm -rf "$W"
python3 models/scripts/train.py --out "$W" --minutes "$MINUTES" "$@" 2>&1 | tee "$W.log"
cp "$W.log" "$W/results/train.log"
cp "$W"/model/*.safetensors "$OUT"/
tar czf "$OUT/bundle.tgz" -C "$W" --exclude='*.safetensors' model results embedded
ls -la "$OUT"
