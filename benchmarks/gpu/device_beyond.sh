#!/usr/bin/env bash
# Chapter 07 (beyond the paper) with its full schedule on one GPU,, in one command:
# the ablation ladder, the recipe's three seeds, the one test evaluation, errors and calibration.
#   prepare here: bash benchmarks/gpu/prepare.sh
#   on a GPU machine: bash benchmarks/gpu/device_beyond.sh
# The chapter reads three tables of chapters 04-05 (tuned_seeds, errors_confused_pairs,
# errors_misclassified); they are copied from the committed results/, whose provenance names the run
# that made them. Everything lands under $OUT/run; the per-epoch lines in $OUT/log.txt give the
# seeds' training time even when the command is stopped at its limit. On CUDA the three seeds train
# as one batched model (KMNIST_BATCHED=0 trains them one by one, for comparison).
# Local dry run: `PYTHON=.venv/bin/python DEVICE=cpu PROFILE=smoke SCHEDULE=smoke OUT=/tmp/out bash benchmarks/gpu/device_beyond.sh`.
set -uo pipefail
source "$(dirname "$0")/common.sh"
SEEDS=${SEEDS:-0 1 2}
SCHEDULE=${SCHEDULE:-full}
FROM=results
[ "$PROFILE" = paper ] || FROM=runs/$PROFILE/results
mkdir -p "$OUT/run/results"
for table in tuned_seeds errors_confused_pairs errors_misclassified; do
  cp "$FROM/$table.json" "$FROM/$table.csv" "$OUT/run/results/" || { echo "missing $FROM/$table: run chapters 04-05 first"; exit 1; }
done
KMNIST_CACHE_DIR=/tmp/kmnist-cache timeout 570 "$PYTHON" -m kmnist_utils.report --profile "$PROFILE" \
  --seeds $SEEDS --device "$DEVICE" --schedule "$SCHEDULE" --only 07 --output-root "$OUT/run" 2>&1 | tee "$OUT/log.txt"
