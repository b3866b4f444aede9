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
NB ?=

# The data: $KMNIST_DATA if set; else ../shared/data when it holds the files; else ./data
# (downloaded by torchvision on first use). Kernels run in notebooks/, so the path is made absolute.
ifeq ($(strip $(KMNIST_DATA)),)
  ifneq ($(wildcard ../shared/data/KMNIST/raw/train-images-idx3-ubyte.gz),)
    KMNIST_DATA := $(abspath ../shared/data)
  endif
else
  KMNIST_DATA := $(abspath $(KMNIST_DATA))
endif
ifneq ($(strip $(KMNIST_DATA)),)
  export KMNIST_DATA
endif

.PHONY: help venv report readme notebook test test-unit lint lab clean-notebooks check-notebooks lock clean-runs

help:
	@sed -n '1,5p' Makefile

venv: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@echo ">> setting up $(VENV) with $(PYTHON) (pinned versions from $(CONSTRAINTS))"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[test]'
	@touch $(STAMP)
	@echo ">> environment ready"

report: venv
	@echo ">> running the notebook series, profile=$(PROFILE) data=$${KMNIST_DATA:-./data}"
	$(PY) -m kmnist_utils.report --profile $(PROFILE) $(if $(SEEDS),--seeds $(SEEDS))

# Regenerate the README's Results section from results/ (make report does it after a full paper run)
readme: venv
	$(PY) -m kmnist_utils.summary

# One notebook, e.g. `make notebook NB=01 PROFILE=smoke`
notebook: venv
	$(PY) -m kmnist_utils.report --profile $(PROFILE) --only $(NB) $(if $(SEEDS),--seeds $(SEEDS))

test: venv
	@echo ">> lint, unit tests and nbval notebook tests (smoke profile) data=$${KMNIST_DATA:-./data}"
	$(VENV)/bin/ruff check .
	KMNIST_PROFILE=smoke $(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env

lint: venv
	$(VENV)/bin/ruff check .

test-unit: venv
	KMNIST_PROFILE=smoke $(PY) -m pytest tests -m 'not slow'

lab: venv
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

check-notebooks: venv
	$(PY) -m kmnist_utils.nbtools check notebooks/[0-9][0-9]_*.ipynb

clean-notebooks: venv
	$(PY) -m kmnist_utils.nbtools strip notebooks/[0-9][0-9]_*.ipynb

lock: venv
	@{ sed -n '1,3p' $(CONSTRAINTS); $(PY) -m pip freeze --exclude-editable | grep -v '^kmnist'; } > $(CONSTRAINTS).new
	@mv $(CONSTRAINTS).new $(CONSTRAINTS) && echo ">> wrote $(CONSTRAINTS)"

clean-runs:
	rm -rf runs .cache/failed
