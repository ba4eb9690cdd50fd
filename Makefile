# liqmon developer tasks. `make demo` and `make test` are the README's quick start.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: all demo run test lint types pytest chaos bench system-deps clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

system-deps:
	./scripts/install-system-deps

## demo: offline demo — venue simulators serving a crash scenario + the full pipeline + live view
demo: $(STAMP)
	$(BIN)/liqmon demo

## run: the monitor against the live venues, everything in one process (no Redis needed)
run: $(STAMP)
	$(BIN)/liqmon run

## test: lint, type-check and the whole test suite (real redis-server, mosquitto, prometheus)
test: $(STAMP) system-deps lint types pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check monitor

types: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	PYTHONASYNCIODEBUG=0 $(BIN)/pytest -q -p no:cacheprovider

chaos: $(STAMP) system-deps
	$(BIN)/pytest -q -m chaos

bench: $(STAMP) system-deps
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build *.egg-info
