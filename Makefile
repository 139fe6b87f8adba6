# Two commands set everything up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
BUN := .tools/node_modules/.bin/bun
CHROMIUM := /usr/bin/chromium
PYTEST_ARGS ?=
# Test processes (pytest-xdist): three on two cores, since many tests wait on subprocesses; the browser
# tests run on two of them, against a server each.
PYTEST_WORKERS ?= 3

.PHONY: install run worker test test-fast lint screenshots clean

install: $(VENV)/.installed $(BUN)

# Reinstalls only when pyproject.toml changes. torch 2.13.0 first: on these machines pip takes a
# CPU build from local disk; elsewhere PyPI's build (CUDA on Linux) satisfies `torch>=2.4`.
$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "needs $(PYTHON)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

# Reflex's JS toolchain: Bun from the npm registry, project-local (no download script).
$(BUN):
	npm install --prefix .tools --no-audit --no-fund --loglevel=error bun@1

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

run: install
	$(BIN)/python -m backend.cli serve

# QUEUES=training,inference serves only those queues (default: all of default, training, inference).
worker: install
	$(BIN)/python -m backend.cli worker $(if $(QUEUES),--queues $(QUEUES))

test: install $(CHROMIUM)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# The suite without browser tests, for a quick loop.
test-fast: install
	$(BIN)/python -m pytest -m "not e2e" $(PYTEST_ARGS)

# The README's screenshots, taken afresh from the production build with the demo data.
screenshots: install $(CHROMIUM)
	$(BIN)/python -m tests.e2e.readme_screenshots

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean:
	rm -rf .web .web-test .web-test-2 .web-test.lock .states .pytest_cache
