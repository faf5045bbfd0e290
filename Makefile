# The two set-up commands: `make train` and `make test`. Each creates .venv and
# installs the package (editable, with the dev extra) the first time.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: train test toy clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

train: $(VENV)/.installed
	$(PY) examples/cifar_mlp.py $(ARGS)

test: $(VENV)/.installed
	$(PY) -m pytest -q

toy: $(VENV)/.installed
	$(PY) examples/two_layer_toy.py

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
