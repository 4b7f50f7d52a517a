# tf-retainer: `make run` serves the whole service on 127.0.0.1; `make test` installs and runs every test.
PYTHON ?= python3.11
VENV ?= .venv
SAM_VENV ?= .venv-sam
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test unit integration e2e lint format typecheck run simulator validate build sam-install bench clean

$(STAMP): pyproject.toml layers/common/requirements.txt
	@echo "==> creating $(VENV) and installing the app with its dev tools"
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: set PYTHON=/path/to/python3.11+"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP) lint
	@echo "==> pytest (unit, integration against moto + the simulator, end-to-end through the local stack)"
	$(BIN)/python -m pytest

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

e2e: $(STAMP)
	$(BIN)/python -m pytest tests/e2e

lint: $(STAMP)
	@echo "==> ruff"
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

run: $(STAMP)
	$(BIN)/python -m local.stack

simulator: $(STAMP)
	$(BIN)/python -m local.simulator

bench: $(STAMP)
	$(BIN)/python bench/run.py

$(SAM_VENV)/.installed:
	@echo "==> installing aws-sam-cli into its own venv ($(SAM_VENV)): it pins its own boto3/pydantic"
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli
	@touch $@

sam-install: $(SAM_VENV)/.installed

validate: $(STAMP) $(SAM_VENV)/.installed
	$(SAM_VENV)/bin/sam validate --lint --region us-east-1
	$(BIN)/cfn-lint template.yaml

build: $(SAM_VENV)/.installed
	$(SAM_VENV)/bin/sam build

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .ruff_cache .mypy_cache
