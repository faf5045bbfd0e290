# The two set-up commands: `make train` and `make test`. Each creates .venv and installs the
# package (editable, with the dev and bench extras: pytest, ruff, mypy, torch) the first time,
# and again after setup.cfg or pyproject.toml change. The checks: docs/testing.md.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: install train test toy lint ci docs docs-serve mutation clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	touch $@

install: $(VENV)/.installed

train: $(VENV)/.installed
	$(PY) examples/cifar_mlp.py $(ARGS)

test: $(VENV)/.installed
	$(PY) -m pytest -q

toy: $(VENV)/.installed
	$(PY) examples/two_layer_toy.py

# Lint, format, types and the size budget: what CI checks before the tests.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) tools/budget.py

# The documentation site (mkdocs, Material, mkdocstrings) into site/, strict: no broken link
# or missing reference.
$(VENV)/.docs: $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[docs]'
	touch $@

docs: $(VENV)/.docs
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

docs-serve: $(VENV)/.docs
	$(VENV)/bin/mkdocs serve

# Everything CI runs (.ci/run: lint, the suite, bounds-checked kernels, the NumPy kernel set).
ci: $(VENV)/.installed
	bash .ci/run

# Mutation testing of the core (engine, ops, fused, kernels): slow, not run in CI.
# `make mutation ARGS="tinygrad_hlcv.ops*"` mutates only the matching functions.
$(VENV)/.mutation: $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[mutation]'
	touch $@

mutation: $(VENV)/.mutation
	OMP_NUM_THREADS=1 $(VENV)/bin/mutmut run $(ARGS)
	$(VENV)/bin/mutmut results

clean:
	rm -rf $(VENV) runs site mutants .pytest_cache .hypothesis .mypy_cache .ruff_cache
