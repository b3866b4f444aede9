#!/usr/bin/env bash
# The whole report on a GPU through papermill, as `make report` runs it (issue 15's 5-minute target).
#   device run: carry [".whl", ".gpu"], command `bash benchmarks/gpu/device_report.sh`, timeout_s 600
# Everything lands under $OUT/run (reports, figures, results with per-notebook wall times, updated
# after each notebook, so a run stopped at the time limit still says how far it got).
# Local dry run: `PYTHON=.venv/bin/python DEVICE=cpu PROFILE=smoke OUT=/tmp/out bash benchmarks/gpu/device_report.sh`.
set -uo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
PROFILE=${PROFILE:-paper}
SEEDS=${SEEDS:-0 1 2}
OUT=${OUT:?set OUT}
export PYTHONUNBUFFERED=1
if [ "$PYTHON" = python3 ]; then  # the GPU image: papermill, nbval and the kernel stack come as wheels
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH
  "$PYTHON" -m ipykernel install --prefix /tmp/jupyter --name python3 >/dev/null || exit 1
  export JUPYTER_PATH=/tmp/jupyter/share/jupyter
else
  export PYTHONPATH=$PWD
fi
[ -d .gpu/data/KMNIST/raw ] && export KMNIST_DATA=$PWD/.gpu/data
mkdir -p "$OUT"
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null || true; \
  "$PYTHON" -c "import torch; print('torch', torch.__version__)"; } | tee "$OUT/machine.txt"
KMNIST_CACHE_DIR=/tmp/kmnist-cache timeout 570 "$PYTHON" -m kmnist_utils.report --profile "$PROFILE" \
  --seeds $SEEDS --device "$DEVICE" --output-root "$OUT/run" 2>&1 | grep -v "^  [0-9][0-9] | " | tee "$OUT/log.txt"
