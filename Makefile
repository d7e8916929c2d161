# Two commands do everything on a fresh machine:
#   make run    install, seed demo data (once), then serve the web page and the scheduled flows
#               on the embedded default (SQLite, a local Prefect server started as a child)
#   make test   install with the test extras, then ruff, mypy and the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test install install-dev system-deps demo lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

system-deps:
	./scripts/system-deps.sh

install: $(BIN)/python system-deps
	$(BIN)/pip install -q -e .

install-dev: $(BIN)/python system-deps
	$(BIN)/pip install -q -e ".[dev]"

run: install
	$(BIN)/grantflow init --demo
	$(BIN)/grantflow demo --if-empty
	$(BIN)/grantflow serve

test: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHON=$(BIN)/python ./scripts/typecheck.sh
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

demo: install
	$(BIN)/grantflow demo

bench: install-dev
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
