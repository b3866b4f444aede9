#!/usr/bin/env bash
# The one prepared device command (issue 15): baseline and candidate on the same machine, in one call.
#   device run: carry [".whl", ".gpu"], command `bash benchmarks/gpu/device_run.sh`, timeout_s 600
# Writes under $OUT: the protocol one run at a time (KMNIST_BATCHED=0) and batched (=1), each with a
# fresh checkpoint cache, and the batched-vs-one-by-one group timings. A local dry run of the same
# steps: `PYTHON=.venv/bin/python DEVICE=cpu PROFILE=smoke OUT=/tmp/out bash benchmarks/gpu/device_run.sh`.
set -uo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
PROFILE=${PROFILE:-paper}
OUT=${OUT:?set OUT}
export PYTHONUNBUFFERED=1
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1 && [ "$PYTHON" = python3 ]; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
[ -d .gpu/data/KMNIST/raw ] && export KMNIST_DATA=$PWD/.gpu/data
mkdir -p "$OUT"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null || true; \
  "$PYTHON" -c "import torch; print('torch', torch.__version__)"; } | tee "$OUT/machine.txt"
for mode in 0 1; do
  echo "== paper protocol, KMNIST_BATCHED=$mode"
  KMNIST_BATCHED=$mode KMNIST_CACHE_DIR=/tmp/kmnist-cache-$mode timeout 230 \
    "$PYTHON" benchmarks/paper_protocol.py --profile "$PROFILE" --seeds 0 --device "$DEVICE" \
    --out "$OUT/protocol_batched_$mode.json" 2>&1 | grep -E "^(==|   )|total|Error|error" | tee -a "$OUT/log.txt"
done
echo "== batched speed"
timeout 100 "$PYTHON" benchmarks/batched_speed.py --device "$DEVICE" $([ "$PROFILE" = smoke ] && echo --train 512) \
  --out "$OUT/batched_speed.json" 2>&1 | grep -v "^\s*\[" | tee -a "$OUT/log.txt"
