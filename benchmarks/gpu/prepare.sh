#!/usr/bin/env bash
# Prepare what a GPU device call carries (run here, in the repo root; both folders are gitignored):
#   .whl/      wheels the GPU image lacks (python 3.12): papermill, nbval, the Jupyter kernel stack
#              and matplotlib-fontja, at the versions of requirements/constraints.txt
#   .gpu/data  the four KMNIST files (../shared/data does not travel with the working tree)
# Then, on the GPU machine: `bash benchmarks/gpu/device_run.sh`.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
# Missing on the GPU image (device README, KINDS.md); everything else (numpy, pandas, torch,
# matplotlib, seaborn, scikit-learn, pyyaml, requests, click, tqdm, ...) is there already.
NAMES="papermill nbformat nbclient jupyter_client jupyter_core ipykernel ipython traitlets pyzmq tornado
fastjsonschema jsonschema jsonschema-specifications referencing rpds-py platformdirs tenacity nbval
matplotlib-fontja comm debugpy jedi parso matplotlib-inline pexpect ptyprocess prompt_toolkit wcwidth
stack_data executing asttokens pure_eval entrypoints"
rm -rf .whl && mkdir -p .whl
for name in $NAMES; do
  pin=$(grep -i -E "^${name//[-_]/[-_]}==" requirements/constraints.txt | head -1)
  [ -n "$pin" ] || { echo "no pin for $name in requirements/constraints.txt" >&2; exit 1; }
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d .whl "$pin"
done
mkdir -p .gpu/data/KMNIST/raw
"$PY" - <<'PY'
import shutil
from kmnist_utils.data import OFFICIAL_MD5, locate_raw_files
source = locate_raw_files()
for name in OFFICIAL_MD5:
    shutil.copy2(source / name, f".gpu/data/KMNIST/raw/{name}")
PY
du -sh .whl .gpu
