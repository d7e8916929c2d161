# Two commands do everything on a fresh machine:
#   make run    install, seed demo data (once), then serve the web page and the scheduled flows
#               on the embedded default (SQLite, a local Prefect server started as a child);
#               `make run PORT=8080` for another port; nothing is reinstalled unless pyproject.toml changed
#   make test   install with the test extras, then ruff, mypy and the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
HOST   ?= 127.0.0.1
# stamp files: pip runs again only when pyproject.toml (the dependencies) changed since the last install
STAMP     := $(VENV)/.installed
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: run test install install-dev system-deps fonts demo lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

system-deps:
	./scripts/system-deps.sh

$(STAMP): pyproject.toml | $(BIN)/python
	./scripts/system-deps.sh
	$(BIN)/pip install -q -e .
	$(BIN)/python -m grantflow.reports.fonts
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	./scripts/system-deps.sh
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/python -m grantflow.reports.fonts
	touch $@ $(STAMP)

install: $(STAMP)

# the trimmed CJK fonts of the public documents (built once, ~1 min; rebuilt when Noto changes)
fonts: | $(BIN)/python
	$(BIN)/python -m grantflow.reports.fonts

install-dev: $(STAMP_DEV)

run: install
	$(BIN)/grantflow init --demo
	$(BIN)/grantflow demo --if-empty
	$(BIN)/grantflow serve --host $(HOST) --port $(PORT)

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
