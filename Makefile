# Two entry points for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CLI := $(BIN)/ser-classic

.PHONY: run test lint data features evaluate deploy optimize clean-cache

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Re-installs only when pyproject.toml changes (quick when already installed).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev,bench]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .

# The main job end to end on the default data.
run: $(STAMP) data features

data: $(STAMP)
	$(CLI) data scan
	$(CLI) data stats

features: $(STAMP)
	$(CLI) features

clean-cache:
	rm -rf .cache
