#!/usr/bin/env bash
# The whole report on a GPU through papermill, as `make report` runs it.
#   on a GPU machine (after prepare.sh): bash benchmarks/gpu/device_report.sh
# Everything lands under $OUT/run (reports, figures, results with per-notebook wall times, updated
# after each notebook, so a run stopped at the time limit still says how far it got).
# Local dry run: `PYTHON=.venv/bin/python DEVICE=cpu PROFILE=smoke SCHEDULE=smoke OUT=/tmp/out bash benchmarks/gpu/device_report.sh`.
set -uo pipefail
source "$(dirname "$0")/common.sh"
SEEDS=${SEEDS:-0 1 2}
SCHEDULE=${SCHEDULE:-full}  # chapter 07's schedule, named here: this script is for a GPU, which the full one needs
KMNIST_CACHE_DIR=/tmp/kmnist-cache timeout 570 "$PYTHON" -m kmnist_utils.report --profile "$PROFILE" \
  --seeds $SEEDS --device "$DEVICE" --schedule "$SCHEDULE" --output-root "$OUT/run" 2>&1 | grep -v "^  [0-9][0-9] | " | tee "$OUT/log.txt"
