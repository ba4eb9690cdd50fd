# liqmon developer tasks. `make demo` and `make test` are the README's quick start.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := deploy/requirements.lock

.PHONY: all demo run test lint types pytest unit chaos fuzz bench lock system-deps clean

all: test

# The virtualenv holds exactly the locked set (runtime + development); liqmon itself is installed
# editable on top without resolving anything again. uv, at the version the lock pins, does the
# installing: the same set as pip would install, in a few seconds instead of half a minute.
# liqmon is then built in place against that set (no isolated build environment): setup.py compiles
# the modules it lists with the locked mypy, which types them against the locked packages. Editing one
# of those sources makes the next `make` compile again (the tests refuse to run on a stale build).
COMPILED := $(shell sed -n 's|^    "\(monitor/.*\.py\)",$$|\1|p' setup.py)
$(STAMP): pyproject.toml $(LOCK) setup.py $(COMPILED)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-virtualenv "$$(grep '^uv==' $(LOCK))"
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r $(LOCK)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-build-isolation --no-deps -e .
	touch $(STAMP)

## lock: re-resolve pyproject.toml's ranges (runtime + dev) to the newest versions and rewrite the lock
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--no-header --no-annotate --upgrade --quiet -o $(LOCK).body
	{ printf '%s\n' \
		'# liqmon lock: runtime and development dependencies, resolved by uv from pyproject.toml.' \
		'# Refresh with `make lock`; never edit by hand. `make` installs exactly this set; the Docker' \
		'# image installs the runtime part of it (pip install -c deploy/requirements.lock .).'; \
	  cat $(LOCK).body; } > $(LOCK)
	rm -f $(LOCK).body

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
	PYTHONASYNCIODEBUG=0 $(BIN)/pytest -q -p no:cacheprovider --durations=25

## unit: the pure tier alone (no services, no scenario generation or backtests)
unit: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider tests/unit

chaos: $(STAMP) system-deps
	$(BIN)/pytest -q -m chaos

## fuzz: 200,000 mutated sample frames per venue through the real parsers (not part of `make test`)
fuzz: $(STAMP)
	PYTHONPATH=. $(BIN)/python scripts/fuzz_parsers.py

bench: $(STAMP) system-deps
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build *.egg-info
	rm -f *.so monitor/*/*.so
