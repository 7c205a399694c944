# Two entry points a new user needs (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench compare clean

$(BIN)/.exca-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: $(BIN)/.exca-installed
	$(BIN)/python -m exca.demo

lint: $(BIN)/.exca-installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

bench: $(BIN)/.exca-installed
	$(BIN)/asv machine --yes >/dev/null  # asv needs a machine file; defaults describe this one
	$(BIN)/asv run --python=same --quick

# Side by side against exca 0.6.0 (.venv-ref, created on first use), joblib, diskcache and
# the numpy/raw floors; table and plots into docs/benchmarks.md and docs/img/ (~30 min).
compare: $(BIN)/.exca-installed
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	$(BIN)/python benchmarks/compare/run.py $(COMPARE_ARGS)

clean:
	rm -rf $(VENV) .venv-ref .exca-demo .asv
