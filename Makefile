# satugate: the two commands a user needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TOOLS  ?= .venv-tools
ARGS   ?=

.PHONY: demo test check lint typecheck bench bench-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"

# The runtime environment, installed from the lock file.
$(VENV)/.run-installed: requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

# The development environment: runtime plus test and benchmark tools, also locked.
$(VENV)/.dev-installed: requirements-dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@ $(VENV)/.run-installed

# Code generators the tests run, each pinned, in their own environment: a generated
# client must build from the document without the project's own dependencies.
$(TOOLS)/.installed: requirements-tools.lock
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install -q -r requirements-tools.lock
	touch $@

## Run the gateway with synthetic demo data on 127.0.0.1:8000 (embedded SQLite).
demo: $(VENV)/.run-installed
	$(BIN)/satugate demo $(ARGS)

## Run the whole test suite (PostgreSQL, Redis and MariaDB on 127.0.0.1 are used).
test: $(VENV)/.dev-installed $(TOOLS)/.installed
	$(BIN)/python -m pytest $(ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check gateway policies connectors audit tests benchmarks scripts/image-smoke
	$(BIN)/ruff format --check gateway policies connectors audit tests benchmarks scripts/image-smoke

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

## The static checks CI runs before the tests: lint, format and strict types over every part.
check: lint typecheck

## All benchmarks at full size (minutes), or a tiny run to prove they still work.
bench: $(VENV)/.dev-installed
	$(BIN)/python -m benchmarks all

bench-quick: $(VENV)/.dev-installed
	$(BIN)/python -m benchmarks all --quick

clean:
	rm -rf $(VENV) $(TOOLS) .satugate .pytest_cache .mypy_cache .ruff_cache
