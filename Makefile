# kmnist-report: two commands do everything on a fresh clone.
#   make report   run the whole notebook series (paper profile) -> reports/, figures/, results/
#   make test     unit tests + nbval notebook tests (smoke profile)
# Both create .venv and install the pinned environment first when needed.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.kmnist-installed
CONSTRAINTS := requirements/constraints.txt
PROFILE ?= paper
SEEDS ?=
SCHEDULE ?=
PRECISION ?=
NB ?=

# The data: the package looks in $KMNIST_DATA, then ../shared/data beside the project, then ./data
# (downloaded on first use); see README, "Data". Kernels run in notebooks/, so a relative
# KMNIST_DATA is made absolute here.
ifneq ($(strip $(KMNIST_DATA)),)
  export KMNIST_DATA := $(abspath $(KMNIST_DATA))
endif
# The folder the run will read, as config.setup finds it ($KMNIST_DATA first).
DATA_SOURCE = $(PY) -c "import os; from kmnist_utils.core.data import find_data_root; \
  print(find_data_root(os.environ.get('KMNIST_DATA') or None).source)"

# The checkout an environment's kmnist_utils is installed from (nothing when it has none); -I keeps the
# current folder off the import path, so the answer is the environment's, not this checkout's.
export OWNER_CHECK = import importlib.util, pathlib; s = importlib.util.find_spec("kmnist_utils"); \
  print(pathlib.Path(s.origin).resolve().parents[1] if s and s.origin else "")

.PHONY: help venv report readme notebook test test-unit lint lab kernel clean-notebooks check-notebooks lock clean-runs

help: ## list the targets
	@sed -n '1,4p' Makefile
	@grep -E '^[a-z-]+:.*## ' Makefile | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'
	@echo "  variables: PROFILE=paper|smoke  SEEDS=\"0 1 2\"  SCHEDULE=cpu (chapter 07)  PRECISION=fp32|bf16|auto  NB=03  VENV=.venv (or \$$CONDA_PREFIX)"

venv: $(STAMP) ## create .venv and install the pinned environment (once; again when pyproject/constraints change)

# A half-made .venv (interrupted creation: no working pip) is rebuilt, not patched; an environment
# passed as VENV=... (conda) is never deleted.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	@echo ">> setting up $(VENV) with $(PYTHON) (pinned versions from $(CONSTRAINTS))"
	@$(PY) -m pip --version >/dev/null 2>&1 || { [ "$(VENV)" = .venv ] || { echo "no working pip in $(VENV)"; exit 1; }; \
	  rm -rf .venv; $(PYTHON) -m venv .venv; }
	@owner=$$($(PY) -I -c "$$OWNER_CHECK" 2>/dev/null); if [ -n "$$owner" ] && [ "$$owner" != "$(realpath $(CURDIR))" ]; then \
	  echo "$(VENV) has kmnist_utils installed from $$owner, not from this checkout ($(realpath $(CURDIR)))."; \
	  echo "It is not re-pointed here: run make in $$owner, or give this checkout its own environment (no VENV=)."; \
	  exit 1; fi
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[test]'
	@touch $(STAMP)
	@echo ">> environment ready"

report: venv ## run the whole series (PROFILE=paper by default) -> reports/ figures/ results/
	@echo ">> running the notebook series, profile=$(PROFILE) data=$$($(DATA_SOURCE))"
	$(PY) -m kmnist_utils.pipeline.report --profile $(PROFILE) $(if $(SEEDS),--seeds $(SEEDS)) $(if $(SCHEDULE),--schedule $(SCHEDULE)) \
	  $(if $(PRECISION),--precision $(PRECISION))

readme: venv ## regenerate the README's generated sections and results/REPORT.md from results/
	$(PY) -m kmnist_utils.pipeline.readme

notebook: venv ## run one notebook through the pipeline, e.g. make notebook NB=01 PROFILE=smoke
	$(PY) -m kmnist_utils.pipeline.report --profile $(PROFILE) --only $(NB) $(if $(SEEDS),--seeds $(SEEDS)) \
	  $(if $(SCHEDULE),--schedule $(SCHEDULE)) $(if $(PRECISION),--precision $(PRECISION))

test: venv ## ruff, unit tests and nbval notebook tests (smoke profile): what CI runs
	@echo ">> lint, unit tests and nbval notebook tests (smoke profile) data=$$($(DATA_SOURCE))"
	$(VENV)/bin/ruff check .
	KMNIST_PROFILE=smoke $(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env --durations=25

lint: venv ## ruff only
	$(VENV)/bin/ruff check .

test-unit: venv ## the fast unit tests only
	KMNIST_PROFILE=smoke $(PY) -m pytest tests -m 'not slow'

lab: venv ## JupyterLab at the project root; notebooks use PROFILE (make lab PROFILE=smoke)
	@echo ">> JupyterLab, profile=$(PROFILE) for every notebook whose parameters cell says profile = None"
	KMNIST_PROFILE=$(PROFILE) PYTHONPATH=$(CURDIR)$${PYTHONPATH:+:$$PYTHONPATH} $(VENV)/bin/jupyter lab --notebook-dir=. \
	  $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

kernel: venv ## register this environment as the Jupyter kernel "kmnist-report" (existing Lab, VS Code)
	$(PY) -m ipykernel install --user --name kmnist-report --display-name "Python (kmnist-report)"

check-notebooks: venv ## fail if a source notebook carries outputs nbval does not check
	$(PY) -m kmnist_utils.pipeline.nbtools check notebooks/[0-9][0-9]_*.ipynb

clean-notebooks: venv ## strip those outputs
	$(PY) -m kmnist_utils.pipeline.nbtools strip notebooks/[0-9][0-9]_*.ipynb

lock: venv ## rewrite requirements/constraints.txt from the installed environment
	@{ sed -n '1,3p' $(CONSTRAINTS); $(PY) -m pip freeze --exclude-editable | grep -v '^kmnist'; } > $(CONSTRAINTS).new
	@mv $(CONSTRAINTS).new $(CONSTRAINTS) && echo ">> wrote $(CONSTRAINTS)"

clean-runs: ## delete runs/ (smoke and test outputs) and kept failed notebooks
	rm -rf runs .cache/failed
