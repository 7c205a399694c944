# Two entry points a new user needs (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean

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

clean:
	rm -rf $(VENV) .exca-demo .asv
