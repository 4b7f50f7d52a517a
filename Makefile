# tf-retainer: `make run` serves the whole service on 127.0.0.1; `make test` installs exactly the lock, lints,
# type-checks and runs every test (slow ones included).
PYTHON ?= python3.11
VENV ?= .venv
SAM_VENV ?= .venv-sam
CHECKOV_VENV ?= .venv-checkov
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# uv installs and locks (uv.lock: the app and its dev tools; tools/sam/uv.lock: the SAM CLI; tools/checkov/uv.lock:
# checkov, the template's security scanner). uv itself comes from tools/uv/requirements.txt, hash-checked by
# pip, into its own venv.
UV_VENV ?= .venv-uv
UV := $(UV_VENV)/bin/uv
# The caller's interpreter, never one uv downloads; PyPI only (pyproject.toml's [tool.uv]).
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
LAYER_REQUIREMENTS := layers/common/requirements.txt
# The layer's third-party packages are the lock's runtime set (boto3 included: the deployed code runs the
# versions the tests ran, not whatever boto3 the Lambda runtime carries that week).
LAYER_EXPORT = { echo "\# Exported from uv.lock by make lock (the runtime dependencies): edit pyproject.toml, then make lock."; \
	$(UV) export --locked --offline --quiet --no-dev --no-emit-project --format requirements-txt --no-header; }
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
# timeouts, simulated TrustedForm latency), so more workers than cores still pay off. Always at least one
# worker process: in pytest's own process a test's mock_aws() resets the moto server the concurrency tests
# share (`.venv/bin/python -m pytest -p no:xdist ...` for one test under a debugger).
WORKERS ?= 6
PARALLEL := -n $(WORKERS) --dist loadgroup

.PHONY: install lock lock-check test coverage quick unit integration e2e lint format typecheck openapi run simulator validate build sam-install checkov-install bench clean

$(UV): tools/uv/requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: set PYTHON=/path/to/python3.11+"; exit 1; }
	@echo "==> installing uv into $(UV_VENV) from tools/uv/requirements.txt (exact version, hash-checked)"
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/pip install --quiet --require-hashes --no-deps -r tools/uv/requirements.txt
	@touch $(UV)

# Installs exactly uv.lock (nothing is resolved at install time); fails if the lock and pyproject.toml disagree.
$(STAMP): uv.lock pyproject.toml | $(UV)
	@echo "==> installing uv.lock into $(VENV): the app and its dev tools"
	$(UV) sync --locked --quiet
	@touch $(STAMP)

install: lock-check $(STAMP)

# One line, and what to do, when a lock no longer matches what it was resolved from.
lock-check: | $(UV)
	@$(UV) lock --check --offline --quiet 2>/dev/null || \
		{ echo "uv.lock does not match pyproject.toml: run make lock"; exit 1; }
	@$(UV) lock --check --offline --quiet --project tools/sam 2>/dev/null || \
		{ echo "tools/sam/uv.lock does not match tools/sam/pyproject.toml: run make lock"; exit 1; }
	@$(UV) lock --check --offline --quiet --project tools/checkov 2>/dev/null || \
		{ echo "tools/checkov/uv.lock does not match tools/checkov/pyproject.toml: run make lock"; exit 1; }
	@$(LAYER_EXPORT) > $(UV_VENV)/layer-requirements.txt && cmp -s $(UV_VENV)/layer-requirements.txt $(LAYER_REQUIREMENTS) || \
		{ echo "$(LAYER_REQUIREMENTS) is not the export of uv.lock: run make lock"; exit 1; }

# The one way to move versions: after editing pyproject.toml (or tools/*), `make lock`; `make lock UPGRADE=1`
# moves every version to the newest its range allows. Then it installs the new lock and re-checks the moto
# patches (local/motolock.py) against the locked moto.
lock: | $(UV)
	@echo "==> locking the app and its dev tools (uv.lock)$(if $(UPGRADE), every version to the newest allowed)"
	$(UV) lock $(if $(UPGRADE),--upgrade)
	@echo "==> locking the SAM CLI (tools/sam/uv.lock)"
	$(UV) lock --project tools/sam $(if $(UPGRADE),--upgrade)
	@echo "==> locking checkov (tools/checkov/uv.lock)"
	$(UV) lock --project tools/checkov $(if $(UPGRADE),--upgrade)
	@echo "==> locking uv itself (tools/uv/requirements.txt, from tools/uv/requirements.in)"
	@$(UV) pip compile --quiet --universal --generate-hashes --no-header --index-url https://pypi.org/simple \
		tools/uv/requirements.in -o $(UV_VENV)/requirements.txt
	@cmp -s $(UV_VENV)/requirements.txt tools/uv/requirements.txt || cp $(UV_VENV)/requirements.txt tools/uv/requirements.txt
	@echo "==> exporting the layer's requirements ($(LAYER_REQUIREMENTS)) from uv.lock"
	@$(LAYER_EXPORT) > $(LAYER_REQUIREMENTS)
	@$(MAKE) --no-print-directory install
	@echo "==> re-checking local/motolock.py's patches against the locked moto"
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/integration/local/test_motolock.py

# The SAM CLI's venv too: tests/integration/local/test_template_expansion.py checks template.yaml's loops
# against SAM CLI's expander (it skips where .venv-sam is missing, so make test installs it); and checkov's:
# tests/integration/local/test_checkov_skips.py scans the template (it skips where .venv-checkov is missing).
test: install $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed lint typecheck
	@echo "==> pytest (unit, integration against moto + the simulator, end-to-end through the local stack)"
	@started=$$(date +%s); status=0; \
	$(BIN)/python -m pytest $(PARALLEL) || status=$$?; \
	now=$$(date +%s); \
	echo "==> make test: $$((now - $(STARTED))) s wall (pytest $$((now - started)) s), pytest exit $$status"; \
	exit $$status

# The same suite with a coverage report. Apart from make test: tracing every call of the in-process moto,
# simulator and service costs ~40 % more time (Python 3.11 has no sys.monitoring), enough to make the
# tests that race real time flaky on 2 cores.
coverage: install
	@echo "==> pytest with coverage (tf_retainer, tf_retainer_ops, functions)"
	$(BIN)/python -m pytest $(PARALLEL) $(COVERAGE)

# Edit-test loop: no lint, typecheck or coverage, no wall-clock queue tests.
quick: install
	$(BIN)/python -m pytest $(PARALLEL) -m "not slow"

unit: install
	$(BIN)/python -m pytest tests/unit

integration: install
	$(BIN)/python -m pytest $(PARALLEL) tests/integration

e2e: install
	$(BIN)/python -m pytest tests/e2e

lint: install
	@echo "==> ruff"
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@echo "==> import contracts (.importlinter: the architecture's map)"
	$(BIN)/lint-imports --no-cache

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install
	@echo "==> mypy (layer, functions, ops CLI; config in pyproject.toml)"
	$(BIN)/mypy

# docs/openapi.json from the intake function's routes (tests/integration/service/test_openapi.py fails when
# the committed file differs from what the code generates).
openapi: install
	$(BIN)/python -m local.openapi

run: install
	$(BIN)/python -m local.stack

simulator: install
	$(BIN)/python -m local.simulator

# Every figure issues 13, 19 and 22 set a goal for, each beside its goal (bench/run.py, ~20 minutes on 2
# cores); a run records them in bench/figures.json and rewrites README.md's generated blocks from it: the
# one command that regenerates the README's figures. PART=name: that part only, its figures replaced in the
# record. SHORT=1: every part on small counts (< 2 minutes, what CI runs: a part that crashes fails it),
# nothing recorded.
bench: install
	$(BIN)/python bench/run.py $(if $(SHORT),--short) $(if $(PART),--part $(PART))

# README.md's generated blocks from bench/figures.json, without measuring (tests/unit/test_readme_figures.py
# fails when they differ).
.PHONY: figures
figures: install
	$(BIN)/python bench/figures.py

# Cold start of each function's handler module against import boto3 + one client (tracing off/on): see bench/coldstart.py.
.PHONY: coldstart
coldstart: install
	$(BIN)/python bench/coldstart.py --runs $${RUNS:-5}

# Cost per million realistic leads by line item, kept / refused / retried (measured in-process; prices in
# bench/prices.json). MODE=decide_first (the template's default), combined or both.
.PHONY: cost
cost: install
	$(BIN)/python bench/cost.py --leads $${LEADS:-30} --mode $${MODE:-decide_first}

# Fault soak: LEADS leads (default 1000) through `python -m local.stack` while TrustedForm fails, hangs and
# throttles; exits non-zero if any accepted lead is lost, retained twice or left without its evidence.
# SOAK adds the soak's own options: SOAK="--screens --jornaya --aws-faults" (every provider and AWS faulting).
.PHONY: soak
soak: install
	$(BIN)/python bench/soak.py --leads $${LEADS:-1000} --minutes $${MINUTES:-20} $(SOAK)

# The suite while every core is busy: BUSY busy-loop processes (default one per core) run until it ends, so
# a test that times something fails here. COMMAND runs instead of make test. Exits with its status.
.PHONY: test-under-load
test-under-load: install
	@echo "==> $${COMMAND:-make test} with $${BUSY:-one per core} busy-loop process(es) holding the cores"
	$(BIN)/python bench/under_load.py --busy $${BUSY:-0} -- $${COMMAND:-$(MAKE) test}

$(SAM_VENV)/.installed: tools/sam/uv.lock tools/sam/pyproject.toml | $(UV)
	@echo "==> installing tools/sam/uv.lock into $(SAM_VENV): aws-sam-cli pins its own boto3/pydantic"
	UV_PROJECT_ENVIRONMENT=$(abspath $(SAM_VENV)) $(UV) sync --locked --quiet --project tools/sam
	@touch $@

sam-install: $(SAM_VENV)/.installed

checkov-install: $(CHECKOV_VENV)/.installed

$(CHECKOV_VENV)/.installed: tools/checkov/uv.lock tools/checkov/pyproject.toml | $(UV)
	@echo "==> installing tools/checkov/uv.lock into $(CHECKOV_VENV): checkov pins its own boto3, networkx, ..."
	UV_PROJECT_ENVIRONMENT=$(abspath $(CHECKOV_VENV)) $(UV) sync --locked --quiet --project tools/checkov
	@touch $@

# The template: SAM's and cfn-lint's rules, then checkov's security checks (local/checkov.py: every failed
# check fails but those skipped inline in template.yaml, each with its reason; docs/security.md#checkov).
validate: install $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed
	$(SAM_VENV)/bin/sam validate --lint --region us-east-1
	$(BIN)/cfn-lint template.yaml
	@echo "==> checkov (CloudFormation framework, the template with its loops expanded)"
	$(BIN)/python -m local.checkov --checkov $(CHECKOV_VENV)/bin/checkov

build: install $(SAM_VENV)/.installed
	$(SAM_VENV)/bin/sam build
	$(BIN)/python -m local.check_build .aws-sam/build

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) $(UV_VENV) .aws-sam .pytest_cache .ruff_cache .mypy_cache .coverage .coverage.*
