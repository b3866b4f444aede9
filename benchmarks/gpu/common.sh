# Sourced by the device scripts: the same environment for every GPU call (and for a local dry run).
# PYTHON (python3 there; .venv/bin/python for a dry run), DEVICE, PROFILE and OUT may be set outside.
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PYTHON=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
PROFILE=${PROFILE:-paper}
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
  "$PYTHON" -c "import torch; print('torch', torch.__version__)"; git rev-parse HEAD 2>/dev/null || true; } \
  | tee "$OUT/machine.txt"
