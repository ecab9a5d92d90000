PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Start the embedded broker, the stream workers, the API and the demo generator.
run: $(STAMP)
	$(BIN)/signalfold run --demo

## Lint, type-check, then every test: unit, integration and end-to-end on the embedded broker.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/typecheck.py
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m bench.pipeline

## Remove everything make run, make test, make bench and the install create.
clean:
	rm -rf $(VENV) .data .pytest_cache .ruff_cache .mypy_cache .hypothesis build dist *.egg-info \
		bench/identity/results bench/results/*.tmp
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
	find . -path ./.git -prune -o -type f -name '*.pyc' -exec rm -f {} +
