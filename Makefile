# Every target works from a fresh clone: `install` builds .venv (CPU torch, the package, test tools) once.
PYTHON ?= python3
# default-model: RECIPE=cpu (2-core CPU, about 85 minutes) or RECIPE=gpu (one H200, about 8 minutes)
RECIPE ?= cpu
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint demo bench default-model clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: install
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

bench: install
	$(BIN)/python benchmarks/dataset_io.py
	$(BIN)/python benchmarks/ik_speed.py
	$(BIN)/python benchmarks/train_speed.py
	$(BIN)/python benchmarks/lift_speed.py

default-model: install
	RECIPE=$(RECIPE) PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/build_default_model.sh

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache *.egg-info
