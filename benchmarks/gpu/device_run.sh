#!/usr/bin/env bash
# The prepared GPU command: baseline and candidate on the same machine, in one call.
#   on a GPU machine (after prepare.sh): bash benchmarks/gpu/device_run.sh
# Writes under $OUT: the protocol one run at a time (KMNIST_BATCHED=0) and batched (=1), each with a
# fresh checkpoint cache, and the batched-vs-one-by-one group timings. A local dry run of the same
# steps: `PYTHON=.venv/bin/python DEVICE=cpu PROFILE=smoke OUT=/tmp/out bash benchmarks/gpu/device_run.sh`.
set -uo pipefail
source "$(dirname "$0")/common.sh"
for mode in 0 1; do
  echo "== paper protocol, KMNIST_BATCHED=$mode"
  KMNIST_BATCHED=$mode KMNIST_CACHE_DIR=/tmp/kmnist-cache-$mode timeout 230 \
    "$PYTHON" benchmarks/paper_protocol.py --profile "$PROFILE" --seeds 0 --device "$DEVICE" \
    --out "$OUT/protocol_batched_$mode.json" 2>&1 | grep -E "^(==|   )|total|Error|error" | tee -a "$OUT/log.txt"
done
echo "== batched speed"
timeout 100 "$PYTHON" benchmarks/batched_speed.py --device "$DEVICE" $([ "$PROFILE" = smoke ] && echo --train 512) \
  --out "$OUT/batched_speed.json" 2>&1 | grep -v "^\s*\[" | tee -a "$OUT/log.txt"
