# `make test` and `make demo` work on a fresh clone: each creates .venv if missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Two stamps: the demo needs only the runtime dependencies; the suite adds the `test` extra
# (pytest, hypothesis, ruff, mypy, ...). Each reinstalls when pyproject.toml changes.
RUNTIME_STAMP := $(VENV)/.runtime-stamp
TEST_STAMP := $(VENV)/.test-stamp

.PHONY: test demo bench lint typecheck clean

$(RUNTIME_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME_STAMP)

$(TEST_STAMP): $(RUNTIME_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

test: $(TEST_STAMP)
	$(BIN)/ruff check planspec tests bench
	$(BIN)/mypy
	$(BIN)/pytest

DEMO := demo-out
PLAN := plans/rental_inspector.yaml
DUCKDB := duckdb:$(DEMO)/demo.duckdb

# The worked example end to end: validate the plan, generate a year of scored listings with
# injected drift and their late outcomes, profile the baseline, and check every alert and
# outcome monitor over every window, then once more reading everything from DuckDB. The run's exit
# code says whether something fires in the latest window; the demo shows it and carries on.
demo: $(RUNTIME_STAMP)
	$(BIN)/planspec validate $(PLAN) plans/rental_inspector.plan
	$(BIN)/planspec demo-data --out $(DEMO)
	$(BIN)/planspec baseline $(PLAN) --data $(DEMO)/baseline.parquet -o $(DEMO)/baseline.json
	$(BIN)/planspec check $(PLAN) --baseline $(DEMO)/baseline.json --data $(DEMO)/scored.parquet \
		--outcomes $(DEMO)/outcomes/*.parquet --format json -o $(DEMO)/results.json --fail-on never
	$(BIN)/planspec check $(PLAN) --baseline $(DEMO)/baseline.json --data $(DEMO)/scored.parquet \
		--outcomes $(DEMO)/outcomes/*.parquet --fail-on never
	$(BIN)/planspec check $(PLAN) --baseline $(DEMO)/baseline.json --data "$(DUCKDB)?table=scored" \
		--outcomes "$(DUCKDB)?table=inspector_audits" "$(DUCKDB)?table=lease_registry" \
		--format json -o $(DEMO)/results-duckdb.json --fail-on never
	$(BIN)/python bench/same_results.py $(DEMO)/results.json $(DEMO)/results-duckdb.json && \
		echo "DuckDB ($(DUCKDB)) gives the Parquet run's results"
	$(BIN)/planspec render $(PLAN) -o $(DEMO)/runbook.md
	$(BIN)/planspec report $(DEMO)/results.json -o $(DEMO)/report.md
	$(BIN)/planspec report $(DEMO)/results.json --format html -o $(DEMO)/report.html
	@echo "Results: $(DEMO)/results.json (injected events: $(DEMO)/injected.json)"
	@echo "Runbook: $(DEMO)/runbook.md   Report: $(DEMO)/report.md and $(DEMO)/report.html"

# Benchmarks at 1M and 10M scored rows (data generated once into bench/.cache); writes
# bench/RESULTS.md. Takes several minutes; speed targets live here, never in unit tests.
bench: $(TEST_STAMP)
	$(BIN)/python bench/run.py

lint: $(TEST_STAMP)
	$(BIN)/ruff check planspec tests

clean:
	rm -rf $(VENV) $(DEMO) build dist .pytest_cache .mypy_cache .hypothesis test-artifacts
