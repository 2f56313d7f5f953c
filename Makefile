# `make test` and `make demo` work on a fresh clone: each creates .venv if missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: test demo bench lint typecheck clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check planspec tests bench
	$(BIN)/mypy
	$(BIN)/pytest

DEMO := demo-out
PLAN := plans/rental_inspector.yaml

# The worked example end to end: validate the plan, generate a year of scored listings with
# injected drift and their late outcomes, profile the baseline, and check every alert and
# outcome monitor over every window. The run's exit
# code says whether something fires in the latest window; the demo shows it and carries on.
demo: $(STAMP)
	$(BIN)/planspec validate $(PLAN) plans/rental_inspector.plan
	$(BIN)/planspec demo-data --out $(DEMO)
	$(BIN)/planspec baseline $(PLAN) --data $(DEMO)/baseline.parquet -o $(DEMO)/baseline.json
	$(BIN)/planspec check $(PLAN) --baseline $(DEMO)/baseline.json --data $(DEMO)/scored.parquet \
		--outcomes $(DEMO)/outcomes/*.parquet --format json -o $(DEMO)/results.json --fail-on never
	$(BIN)/planspec check $(PLAN) --baseline $(DEMO)/baseline.json --data $(DEMO)/scored.parquet \
		--outcomes $(DEMO)/outcomes/*.parquet --fail-on never
	$(BIN)/planspec render $(PLAN) -o $(DEMO)/runbook.md
	$(BIN)/planspec report $(DEMO)/results.json -o $(DEMO)/report.md
	$(BIN)/planspec report $(DEMO)/results.json --format html -o $(DEMO)/report.html
	@echo "Results: $(DEMO)/results.json (injected events: $(DEMO)/injected.json)"
	@echo "Runbook: $(DEMO)/runbook.md   Report: $(DEMO)/report.md and $(DEMO)/report.html"

# Benchmarks at 1M and 10M scored rows (data generated once into bench/.cache); writes
# bench/RESULTS.md. Takes several minutes; speed targets live here, never in unit tests.
bench: $(STAMP)
	$(BIN)/python bench/run.py

lint: $(STAMP)
	$(BIN)/ruff check planspec tests

clean:
	rm -rf $(VENV) $(DEMO) build dist .pytest_cache .mypy_cache .hypothesis test-artifacts
