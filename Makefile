# `make test` and `make demo` work on a fresh clone: each creates .venv if missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: test demo lint typecheck clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check planspec tests
	$(BIN)/mypy
	$(BIN)/pytest

demo: $(STAMP)
	$(BIN)/planspec validate plans/rental_inspector.yaml

lint: $(STAMP)
	$(BIN)/ruff check planspec tests

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .hypothesis
