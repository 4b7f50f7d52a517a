# tf-retainer: `make run` serves the whole service on 127.0.0.1; `make test` installs, lints, type-checks
# and runs every test (slow ones included) with a coverage report.
PYTHON ?= python3.11
VENV ?= .venv
SAM_VENV ?= .venv-sam
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# When this make started: `make test` reports its wall time (install + lint + typecheck + pytest).
STARTED := $(shell date +%s)
# The product's code; not local/ (the simulator and the emulation serve every test: tracing them is most
# of coverage's cost, for lines that ship nowhere).
COVERAGE := --cov=tf_retainer --cov=tf_retainer_ops --cov=functions \
	--cov-report=term-missing:skip-covered
# Python may write bytecode (and pytest its assertion-rewritten test modules) even where the shell says not
# to: otherwise every test worker and every container process recompiles the project and the tests
# (about 2 s of CPU each).
unexport PYTHONDONTWRITEBYTECODE
# Test processes (pytest-xdist). Most of the suite's wall time is waiting (retry backoff, visibility
# timeouts, simulated TrustedForm latency), so more workers than cores still pay off; 1 = in-process.
WORKERS ?= 6
ifeq ($(WORKERS),1)
PARALLEL :=
else
PARALLEL := -n $(WORKERS) --dist loadgroup
endif

.PHONY: install test coverage quick unit integration e2e lint format typecheck openapi run simulator validate build sam-install bench clean

$(STAMP): pyproject.toml layers/common/requirements.txt
	@echo "==> creating $(VENV) and installing the app with its dev tools"
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: set PYTHON=/path/to/python3.11+"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP) lint typecheck
	@echo "==> pytest (unit, integration against moto + the simulator, end-to-end through the local stack)"
	@started=$$(date +%s); status=0; \
	$(BIN)/python -m pytest $(PARALLEL) || status=$$?; \
	now=$$(date +%s); \
	echo "==> make test: $$((now - $(STARTED))) s wall (pytest $$((now - started)) s), pytest exit $$status"; \
	exit $$status

# The same suite with a coverage report. Apart from make test: tracing every call of the in-process moto,
# simulator and service costs ~40 % more time (Python 3.11 has no sys.monitoring), enough to make the
# tests that race real time flaky on 2 cores.
coverage: $(STAMP)
	@echo "==> pytest with coverage (tf_retainer, tf_retainer_ops, functions)"
	$(BIN)/python -m pytest $(PARALLEL) $(COVERAGE)

# Edit-test loop: no lint, typecheck or coverage, no wall-clock queue tests.
quick: $(STAMP)
	$(BIN)/python -m pytest $(PARALLEL) -m "not slow"

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest $(PARALLEL) tests/integration

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
	@echo "==> mypy (layer, functions, ops CLI; config in pyproject.toml)"
	$(BIN)/mypy

# docs/openapi.json from the intake function's routes (tests/integration/service/test_openapi.py fails when
# the committed file differs from what the code generates).
openapi: $(STAMP)
	$(BIN)/python -m local.openapi

run: $(STAMP)
	$(BIN)/python -m local.stack

simulator: $(STAMP)
	$(BIN)/python -m local.simulator

# Issue 13's figures against their goals: write units and cost per lead, cold starts, the retry batch
# ratio (DynamoDB stubbed), local leads/s at 100 vs 10,000 stored leads; and the timings no test asserts
# (issue 19): moto at 20,000 vs 100 items, the local stack's start and stop (~3 minutes on 2 cores).
bench: $(STAMP)
	$(BIN)/python bench/run.py

# Cold start of each function's handler module against import boto3 + one client (tracing off/on): see bench/coldstart.py.
.PHONY: coldstart
coldstart: $(STAMP)
	$(BIN)/python bench/coldstart.py --runs $${RUNS:-5}

# Cost per million retained leads by line item (measured in-process; prices in bench/prices.json).
.PHONY: cost
cost: $(STAMP)
	$(BIN)/python bench/cost.py --leads $${LEADS:-50}

# Fault soak: LEADS leads (default 1000) through `python -m local.stack` while TrustedForm fails, hangs and
# throttles; exits non-zero if any accepted lead is lost, retained twice or left without its evidence.
.PHONY: soak
soak: $(STAMP)
	$(BIN)/python bench/soak.py --leads $${LEADS:-1000} --minutes $${MINUTES:-20}

# The suite while every core is busy: BUSY busy-loop processes (default one per core) run until it ends, so
# a test that times something fails here. COMMAND runs instead of make test. Exits with its status.
.PHONY: test-under-load
test-under-load: $(STAMP)
	@echo "==> $${COMMAND:-make test} with $${BUSY:-one per core} busy-loop process(es) holding the cores"
	$(BIN)/python bench/under_load.py --busy $${BUSY:-0} -- $${COMMAND:-$(MAKE) test}

$(SAM_VENV)/.installed:
	@echo "==> installing aws-sam-cli into its own venv ($(SAM_VENV)): it pins its own boto3/pydantic"
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli
	@touch $@

sam-install: $(SAM_VENV)/.installed

validate: $(STAMP) $(SAM_VENV)/.installed
	$(SAM_VENV)/bin/sam validate --lint --region us-east-1
	$(BIN)/cfn-lint template.yaml

build: $(SAM_VENV)/.installed $(STAMP)
	$(SAM_VENV)/bin/sam build
	$(BIN)/python -m local.check_build .aws-sam/build

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .ruff_cache .mypy_cache .coverage .coverage.*
