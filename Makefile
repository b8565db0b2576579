# The two set-up commands of the README. Each creates its own virtualenv (.venv) on first use.
#   make demo   set up, run the main job on the embedded default model, build the report
#   make test   set up, run the test suite
# GPU machines: make venv TORCH=torch CONSTRAINTS=/dev/null   (takes PyPI's CUDA build of torch)

PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
CONSTRAINTS ?= constraints-cpu.txt
EXTRAS ?= dev,hf,lm-eval,serve
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
DEMO_DIR ?= runs/demo

.PHONY: venv demo test lint clean

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c $(CONSTRAINTS) "$(TORCH)"
	$(PIP) install --quiet -c $(CONSTRAINTS) -e ".[$(EXTRAS)]"
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(BIN)/jamba-eval run ruler --model jamba-tiny --max-len 256k --samples 1 --output-dir $(DEMO_DIR)/ruler
	$(BIN)/jamba-eval report $(DEMO_DIR) --output $(DEMO_DIR)/site
	@echo "report: $(DEMO_DIR)/site/index.html"

test: venv
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
